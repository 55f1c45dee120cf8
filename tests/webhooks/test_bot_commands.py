"""set_webhook, delete_webhook and poll_updates against the loopback Bot API server."""

from __future__ import annotations

import copy
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from messages.stores import get_store
from tests.conftest import load_update
from tests.end_to_end.test_faults_answer_503 import keyring_missing
from webhooks.botapi import BotApi
from webhooks.polling import ALLOWED_UPDATES, Poller

pytestmark = pytest.mark.django_db(transaction=True)


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def updates(count: int) -> list[dict[str, Any]]:
    """Real-shaped updates: messages of one chat, then an edit and a button press."""
    made = []
    for n in range(count):
        update = copy.deepcopy(load_update("text_message"))
        update["update_id"] = 500 + n
        update["message"]["message_id"] = 10 + n
        made.append(update)
    edit = copy.deepcopy(load_update("edited_message"))
    edit["update_id"] = 500 + count
    ignored = copy.deepcopy(load_update("callback_query"))
    ignored["update_id"] = 501 + count
    return [*made, edit, ignored]


def test_set_webhook_registers_https_with_the_secret_and_the_archived_kinds(bot_api: Any) -> None:
    out = run("set_webhook", "https://archive.example.org", "--max-connections", "20")
    (call,) = [c for c in bot_api.calls if c.method == "setWebhook"]
    assert call.params == {
        "url": "https://archive.example.org/telegram/webhook/",
        "secret_token": settings.WEBHOOK_SECRET,
        "allowed_updates": ALLOWED_UPDATES,
        "max_connections": 20,
    }
    assert "webhook set to https://archive.example.org/telegram/webhook/" in out
    assert "url:              https://archive.example.org/telegram/webhook/" in out
    assert "allowed updates:  message, edited_message, channel_post" in out
    assert run("delete_webhook").strip() == "webhook deleted"
    assert bot_api.webhook == {}


def test_set_webhook_refuses_plain_http_and_a_bad_connection_count(bot_api: Any) -> None:
    with pytest.raises(CommandError, match=r"https:// URLs only.*poll_updates"):
        run("set_webhook", "http://archive.example.org")
    with pytest.raises(CommandError, match="between 1 and 100"):
        run("set_webhook", "https://archive.example.org", "--max-connections", "0")
    assert "setWebhook" not in bot_api.methods()


def test_poll_updates_archives_what_waits_and_confirms_it(bot_api: Any) -> None:
    bot_api.updates.extend(updates(3))
    out = run("poll_updates", "--once")
    assert out.strip().endswith("4 archived, 0 already archived, 1 skipped, 0 errors")
    chat = get_store().get_chat(load_update("text_message")["message"]["chat"]["id"])
    assert chat is not None
    assert chat.message_count == 4  # three new, and the edited one (a message of its own)
    assert bot_api.updates == []  # confirmed: Telegram will not send them again
    getupdates = [c.params for c in bot_api.calls if c.method == "getUpdates"]
    assert getupdates[0]["allowed_updates"] == ALLOWED_UPDATES
    assert "poll_updates: 0 archived" in run("poll_updates", "--once")


def test_poll_updates_will_not_start_while_a_webhook_is_set(bot_api: Any) -> None:
    bot_api.webhook = {"url": "https://archive.example.org/telegram/webhook/"}
    with pytest.raises(CommandError, match=r"a webhook is set.*--delete-webhook"):
        run("poll_updates", "--once")
    out = run("poll_updates", "--once", "--delete-webhook")
    assert "deleted the webhook https://archive.example.org/telegram/webhook/" in out
    assert bot_api.webhook == {}


def test_an_outage_holds_the_offset_so_nothing_is_lost(bot_api: Any, keyring_path: Path) -> None:
    bot_api.updates.extend(updates(2))
    past_the_last = bot_api.updates[-1]["update_id"] + 1
    poller = Poller(BotApi(), timeout=0)

    def poll() -> None:
        try:
            poller.run()
        finally:
            connections.close_all()  # this thread's own database connection

    thread = threading.Thread(target=poll)
    with keyring_missing(keyring_path):
        thread.start()
        deadline = time.monotonic() + 10
        while poller.counts.errors < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert poller.counts.errors >= 1
        assert poller.offset is None  # nothing confirmed while nothing could be archived
        assert len(bot_api.updates) == 4
    # Stopped once the whole batch is through (a stop mid-batch leaves the rest to be read
    # again, rightly, which is not what this test is about).
    deadline = time.monotonic() + 10
    while poller.offset != past_the_last and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert poller.counts.archived == 3
    assert bot_api.updates == []
