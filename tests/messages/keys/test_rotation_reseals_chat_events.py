"""A chat's events (reactions, membership) go through key rotation with its messages:
re-sealed under the new key, so the old version can be retired and they still open; counted
when the retirement decides a version is unused; opened by verify_archive; deleted by a shred.
On the default backends (ORM + local keyring) and the production ones (Firestore + KMS)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crypto.chatkeys import ACTIVE, RETIRED, SUPERSEDED
from messages import sealing
from messages.stores import get_store
from messages.stores.records import SealedEvent
from tests.conftest import Webhook
from tests.messages.keys.test_key_lifecycle import summary, versions

CHAT, MESSAGE = -1001234567890123, 4127
EVENT_FIXTURES = ("my_chat_member", "chat_member", "message_reaction", "message_reaction_count")


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


@pytest.fixture
def chat(backends: str, webhook: Webhook) -> None:
    """A message, then one event of each kind, through the webhook."""
    assert webhook.post_fixture("text_message").status_code == 200
    for name in EVENT_FIXTURES:
        assert webhook.post_fixture(name).json()["outcome"] == "created", name


def shown(api: Any) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]], str]:
    """What the API shows of the chat's events: the membership timeline, the message's
    reactions, the bot's status."""
    events = api.get(f"/api/v1/chats/{CHAT}/events/")
    assert events.status_code == 200, events.content[:300]
    timeline = [(e["kind"], e["old_status"], e["new_status"]) for e in events.json()["results"]]
    reactions = api.get(f"/api/v1/messages/{CHAT}:{MESSAGE}/").json()["reactions"]
    return timeline, reactions, api.get(f"/api/v1/chats/{CHAT}/").json()["bot_status"]


def test_events_are_resealed_the_old_key_retired_and_they_still_open(chat: None, api: Any) -> None:
    before = shown(api)
    assert len(before[0]) == 2  # the two membership events
    assert before[1]
    assert before[2] == "administrator"
    assert "4 events opened" in summary("verify_archive")

    assert "1 rotated" in summary("rotate_chat_keys", "--chat", str(CHAT))
    assert "4 events would be re-sealed" in summary(
        "reencrypt_messages", "--chat", str(CHAT), "--dry-run"
    )
    done = summary("reencrypt_messages", "--chat", str(CHAT))
    assert "4 events re-sealed, 1 key version retired, 0 failed" in done
    assert versions(CHAT) == [(1, RETIRED), (2, ACTIVE)]
    assert get_store().count_events(CHAT, {1, 2}) == {2: 4}

    sealing.chat_keys().keys.clear()  # a cold cache: only what the keyring still holds opens
    assert shown(api) == before
    checked = summary("verify_archive")
    assert "4 events opened" in checked
    assert ", 0 failed" in checked

    assert "4 events would be deleted" in summary("shred_chat", str(CHAT), "--dry-run")
    assert "4 events deleted" in summary("shred_chat", str(CHAT), "--yes")
    assert list(get_store().iter_events(CHAT)) == []


def test_an_event_that_does_not_open_keeps_its_key_version_from_retiring(chat: None) -> None:
    [member] = get_store().iter_events(CHAT, kinds=("chat_member",))
    # Another event's envelope, copied in behind the app's back: its AAD names another event.
    moved = SealedEvent(
        chat_id=CHAT,
        kind="chat_member",
        event_id=999,
        date=1786536999,
        message_id=0,
        key_version=1,
        envelope=member.envelope,
    )
    get_store().put_event(moved)
    assert f"chat {CHAT} event 999 (chat_member)" in "\n".join(failures("verify_archive"))
    summary("rotate_chat_keys", "--chat", str(CHAT))
    failed = failures("reencrypt_messages", "--chat", str(CHAT))
    assert any("event 999 (chat_member)" in line for line in failed)
    assert any("still use key versions 1" in line for line in failed)
    assert versions(CHAT) == [(1, SUPERSEDED), (2, ACTIVE)]
    assert get_store().count_events(CHAT, {1, 2}) == {1: 1, 2: 4}


def failures(command: str, *args: str) -> list[str]:
    """A command's failure lines (it exits 1 with them on stderr)."""
    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(command, *args, stdout=StringIO(), stderr=err)
    assert failed.value.returncode == 1
    return err.getvalue().splitlines()
