"""manage.py smoke_check URL: is the groupie at URL up and archiving? Exit 0, or 1 with a reason.

Cloud Deploy's verify phase and the container smoke test run it. It needs the service's own
configuration (the database, store and keyring settings, WEBHOOK_SECRET): on Cloud Run it is
a job on the same image, with the same secrets. From outside it checks:

1. ``/healthz`` answers 200;
2. ``/readyz`` answers 200 (else its body says which part failed);
3. the webhook refuses a wrong secret (403);
4. a synthetic update to the probe chat is archived (200, created);
5. that message reads back through the API, with a key limited to the probe chat, as sent.

Then it cleans up: the probe chat is shredded (its key destroyed, its records deleted) and the
key deleted. The probe chat's id, -1009999999999999, is outside the ids Telegram gives, so it
never mixes with a real chat.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages.apikeys import create_api_key
from messages.keys.actions import do_shred_chat
from messages.keys.operations import NotInArchive
from webhooks.views import SECRET_HEADER

PROBE_CHAT_ID = -1009999999999999
PROBE_KEY_NAME = "smoke_check"


class Failed(Exception):
    """One check failed: the message is the one-line reason."""


class Command(ArchiveCommand):
    help = (
        "Checks a running groupie: /healthz, /readyz, the webhook refusing a wrong secret, a "
        "probe update archived and read back through the API. Exits 1 with the reason on any "
        "failure; shreds the probe chat afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="The service's base URL, e.g. https://groupie.example.org")
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per request.")
        parser.add_argument(
            "--forwarded-proto",
            choices=("http", "https"),
            help="Send X-Forwarded-Proto, as a TLS proxy in front would (default: the URL's).",
        )
        parser.add_argument(
            "--keep", action="store_true", help="Leave the probe chat and key (for debugging)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"].rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"{options['url']!r} is not an http(s) URL")
        client = _Client(url, options["timeout"], options["forwarded_proto"] or parts.scheme)
        record, key = create_api_key(PROBE_KEY_NAME, [PROBE_CHAT_ID])
        try:
            self._checks(client, key)
        except Failed as exc:
            raise CommandError(f"smoke_check failed: {exc}") from None
        finally:
            if not options["keep"]:
                record.delete()
                _shred_probe_chat()
        self.stdout.write(f"smoke_check: {url} passed")

    def _checks(self, client: _Client, key: str) -> None:
        self._step("healthz", lambda: client.expect("GET", "/healthz", 200))
        self._step("readyz", lambda: client.expect("GET", "/readyz", 200))
        message_id = int(time.time() * 1000) % 2_000_000_000
        nonce = f"smoke_check {secrets.token_hex(8)}"
        update = _probe_update(message_id, nonce)
        wrong = {SECRET_HEADER: secrets.token_urlsafe(16)}
        self._step(
            "webhook refuses a wrong secret",
            lambda: client.expect("POST", "/telegram/webhook/", 403, update, wrong),
        )
        right = {SECRET_HEADER: settings.WEBHOOK_SECRET}

        def archive() -> None:
            answer = client.expect("POST", "/telegram/webhook/", 200, update, right)
            if answer.get("outcome") != "created":
                raise Failed(f"the probe update was not archived: {answer}")

        self._step("probe update archived", archive)

        def read_back() -> None:
            path = f"/api/v1/messages/{PROBE_CHAT_ID}:{message_id}/"
            answer = client.expect("GET", path, 200, headers={"Authorization": f"Bearer {key}"})
            if answer.get("text") != nonce:
                raise Failed("the probe message read back through the API is not what was sent")

        self._step("probe message read back through the API", read_back)

    def _step(self, name: str, check: Any) -> None:
        started = time.monotonic()
        check()
        self.stdout.write(f"ok  {name} ({(time.monotonic() - started) * 1000:.0f} ms)")


class _Client:
    def __init__(self, base: str, timeout: float, proto: str) -> None:
        self.base, self.timeout, self.proto = base, timeout, proto

    def expect(
        self,
        method: str,
        path: str,
        status: int,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in handle()
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "X-Forwarded-Proto": self.proto,
                **(headers or {}),
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                got, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            got, raw = exc.code, exc.read()
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Failed(f"{method} {path}: cannot reach the service ({reason})") from None
        if got != status:
            raise Failed(f"{method} {path} answered {got}, expected {status}{_said(raw)}")
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            raise Failed(f"{method} {path} did not answer JSON") from None
        return answer if isinstance(answer, dict) else {}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect (HTTP to HTTPS, say) is an answer to report, not to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _shred_probe_chat() -> None:
    with suppress(NotInArchive):  # the probe never got as far as archiving
        do_shred_chat(PROBE_CHAT_ID)


def _said(raw: bytes) -> str:
    text = raw[:200].decode("utf-8", "replace").replace("\n", " ").strip()
    return f": {text}" if text else ""


def _probe_update(message_id: int, text: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "update_id": message_id,
        "message": {
            "message_id": message_id,
            "date": now,
            "chat": {"id": PROBE_CHAT_ID, "type": "supergroup", "title": "smoke_check probe"},
            "from": {"id": 1, "is_bot": True, "first_name": "smoke_check"},
            "text": text,
        },
    }
