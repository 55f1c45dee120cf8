"""manage.py smoke_check URL, against a server that works (the real app, live) and against
servers broken in each way it checks (a stub speaking just enough HTTP)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.models import ApiKey
from messages.stores import get_store
from tests.gunicorn_server import free_port
from webhooks.loopback import send_json
from webhooks.management.commands.smoke_check import PROBE_CHAT_ID

pytestmark = pytest.mark.django_db(transaction=True)


def smoke_check(url: str, *args: str) -> str:
    out = StringIO()
    call_command("smoke_check", url, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_working_server_passes_and_the_probe_leaves_nothing(live_server: Any) -> None:
    out = smoke_check(live_server.url)
    assert out.splitlines() == [
        line
        for line in out.splitlines()
        if line.startswith("ok  ") or line == f"smoke_check: {live_server.url} passed"
    ]
    assert "ok  probe message read back through the API" in out
    store = get_store()
    assert store.get_chat(PROBE_CHAT_ID) is None  # shredded
    assert store.count_revisions(PROBE_CHAT_ID) == {}
    assert not ApiKey.objects.filter(name="smoke_check").exists()


class Broken:
    """A stub groupie that answers like the real one except where told to break."""

    def __init__(self, **breaks: Any) -> None:
        self.breaks = breaks
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.answer(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                stub.answer(self, json.loads(self.rfile.read(length)))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.text = ""

    def answer(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        path = handler.path
        status, reply = 200, {"status": "ok"}
        if path == "/healthz":
            status = self.breaks.get("healthz", 200)
        elif path == "/readyz":
            status = self.breaks.get("readyz", 200)
            if status != 200:
                reply = {"status": "unavailable", "checks": {"keyring": "failed: gone"}}
        elif path == "/telegram/webhook/":
            from django.conf import settings

            right = (
                handler.headers.get("X-Telegram-Bot-Api-Secret-Token") == settings.WEBHOOK_SECRET
            )
            if not right and not self.breaks.get("accepts_any_secret"):
                status, reply = 403, {"ok": False}
            else:
                status = self.breaks.get("archive", 200)
                self.text = body["message"]["text"]
                reply = {"ok": True, "outcome": "created"}
        elif path.startswith("/api/v1/messages/"):
            reply = {"text": self.breaks.get("read_back", self.text)}
        send_json(handler, status, reply)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broken() -> Iterator[Any]:
    made: list[Broken] = []

    def make(**breaks: Any) -> str:
        made.append(Broken(**breaks))
        return made[-1].url

    yield make
    for stub in made:
        stub.close()


@pytest.mark.parametrize(
    ("breaks", "reason"),
    [
        ({"healthz": 500}, "GET /healthz answered 500, expected 200"),
        ({"readyz": 503}, 'GET /readyz answered 503, expected 200: {"status": "unavailable"'),
        ({"accepts_any_secret": True}, "POST /telegram/webhook/ answered 200, expected 403"),
        ({"archive": 503}, "POST /telegram/webhook/ answered 503, expected 200"),
        ({"read_back": "something else"}, "read back through the API is not what was sent"),
    ],
    ids=["healthz", "readyz", "wrong-secret-accepted", "not-archived", "read-back-differs"],
)
def test_each_broken_server_fails_with_its_reason(
    broken: Any, breaks: dict[str, Any], reason: str
) -> None:
    with pytest.raises(CommandError) as failed:
        smoke_check(broken(**breaks))
    message = str(failed.value)
    assert message.startswith("smoke_check failed: ")
    assert reason in message
    assert "\n" not in message
    assert not ApiKey.objects.filter(name="smoke_check").exists()  # cleaned up all the same


def test_a_server_that_is_down_or_a_bad_url(db: None) -> None:
    with pytest.raises(CommandError, match="cannot reach the service"):
        smoke_check(f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    with pytest.raises(CommandError, match="is not an http"):
        smoke_check("ftp://example.org")
