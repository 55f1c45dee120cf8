"""Nothing a person wrote or sent is at rest in plaintext: not in the database, keyring, media
store or server log."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.apps import apps
from django.db import connection

from tests.conftest import FIXTURES, Webhook
from tests.gunicorn_server import running_gunicorn
from webhooks.loopback import BotApiPeer

# Written into the fixtures: the text marker, the sender's names and username.
MARKERS = ("ZEBRA-MARKER-7Q", "Marguerite", "Quillfeather", "mquillfeather_zz")
# Chat events (reactions, membership) hold names, who did what and emoji: content too.
EVENT_MARKERS = ("priya_builds", "Priya", "👍", "5368324170671202286", "restricted")
MARKED = (
    "text_message",
    "edited_message",
    "photo_with_caption",
    "channel_post",
    "message_reaction",
    "message_reaction_count",
    "chat_member",
    "my_chat_member",
)


def test_no_table_row_holds_text_names_or_titles(webhook: Webhook) -> None:
    from messages.models import SearchToken
    from messages.search import index

    for name in MARKED:  # with every chat's search index on: its tokens are rows too
        update = json.loads((FIXTURES / f"{name}.json").read_text())
        message = next(v for k, v in update.items() if k != "update_id")
        index.turn_on(message["chat"]["id"])
    for name in MARKED:
        assert webhook.post_fixture(name).status_code == 200
    assert SearchToken.objects.count() > 10
    dumped = b""
    for model in apps.get_app_config("archive").get_models():
        if not model._meta.managed:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {model._meta.db_table}")  # noqa: S608 - our table names
            for row in cursor.fetchall():
                dumped += b"|".join(_as_bytes(value) for value in row)
    assert len(dumped) > 1000  # the rows are there; they just hold nothing readable
    for marker in (*MARKERS, *EVENT_MARKERS):
        assert marker.encode() not in dumped


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The real server as production starts it (gunicorn), on its own SQLite file, keyring
    and media directory, with its task worker fetching from a loopback Bot API whose photo
    file is full of the markers."""
    secret = secrets.token_urlsafe(24)
    telegram = BotApiPeer()
    photo = json.loads((FIXTURES / "photo_with_caption.json").read_text())
    content = " ".join(MARKERS).encode() * 2000
    telegram.add_file(photo["message"]["photo"][-1]["file_id"], content, "marked.jpg")
    try:
        with running_gunicorn(
            tmp_path,
            WEBHOOK_SECRET=secret,
            GROUPIE_TASK_WORKER="1",
            TELEGRAM_API_URL=telegram.url,
            TELEGRAM_TOKEN=telegram.token,
        ) as base:
            yield base, secret, tmp_path
    finally:
        telegram.close()


def test_no_file_the_server_wrote_holds_text_names_or_secrets(
    server: tuple[str, str, Path],
) -> None:
    base, secret, directory = server
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    for name in MARKED:
        body = (FIXTURES / f"{name}.json").read_bytes()
        assert httpx.post(f"{base}/telegram/webhook/", content=body, headers=headers).is_success
    body = (FIXTURES / "reply_message.json").read_bytes()
    assert httpx.post(f"{base}/webhook/{secret}", content=body).is_success
    assert httpx.post(f"{base}/webhook/wrong-{secret}", content=body).status_code == 403
    assert httpx.post(f"{base}/telegram/webhook/", content=b"{", headers=headers).status_code == 400
    assert httpx.get(f"{base}/readyz").status_code == 200
    deadline = time.monotonic() + 30
    while not list((directory / "media").rglob("*.1")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker fetches the photo's file and seals it
    assert list((directory / "media").rglob("*.1")), "the photo's file was not stored"
    time.sleep(0.2)

    files = [p for p in directory.rglob("*") if p.is_file()]
    written = {p.name: p.read_bytes() for p in files}
    assert {"groupie.db", "keyring.json", "server.log"} <= written.keys()
    assert b"telegram-webhook" in written["server.log"]  # the log is there and has lines
    for name, content in written.items():
        for marker in (*MARKERS, secret):
            assert marker.encode() not in content, f"{marker!r} found in {name}"
