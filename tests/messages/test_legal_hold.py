"""A chat under legal hold keeps every message and file through purge_messages, retention
and shred_chat until the hold is released; rotate_chat_keys and reencrypt_messages still run;
setting and releasing are audited with the reason. On both stores."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.models import AuditEntry, LegalHold, MediaFile
from messages.stores import get_store
from tests.conftest import Webhook
from tests.factories import ChatFactory, MessageFactory, UpdateFactory

HELD, FREE = -1001000000003101, -1001000000003102
DAY = 86_400
REASON = "Case 2026-114: preserve everything"


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


@pytest.fixture(params=["orm", "firestore"])
def history(request: pytest.FixtureRequest, webhook: Webhook) -> None:
    """In each chat: messages 100, 40 and 1 days old, and a file of the oldest."""
    if request.param == "firestore":
        request.getfixturevalue("cloud")
    now = int(time.time())
    for chat_id in (HELD, FREE):
        chat = ChatFactory(id=chat_id)
        for n, age in enumerate((100, 40, 1), start=1):
            message = MessageFactory(chat=chat, message_id=n, date=now - age * DAY)
            assert webhook.post(UpdateFactory(message=message)).status_code == 200
        MediaFile.objects.create(
            chat_id=chat_id,
            message_id=1,
            file_unique_id="f1",
            date=now - 100 * DAY,
            kind="document",
            status=MediaFile.FAILED,
        )


def _count(chat_id: int) -> int:
    return get_store().get_chat(chat_id).message_count


def test_a_held_chat_loses_nothing_until_released(history: None) -> None:
    out, _ = run("set_legal_hold", str(HELD), "--reason", REASON)
    assert out == f"chat {HELD}: under legal hold; nothing of it is deleted"
    out, err = run("purge_messages", "--older-than", "10")
    assert f"skipped: chat {HELD} is under legal hold" in err
    assert REASON in err
    assert "1 chat under legal hold skipped" in out
    assert _count(HELD) == 3
    assert MediaFile.objects.filter(chat_id=HELD).count() == 1
    assert _count(FREE) == 1  # the others are purged as before
    assert not MediaFile.objects.filter(chat_id=FREE).exists()

    run("set_retention", str(HELD), "10")  # retention: the period is kept, not applied
    out, err = run("purge_messages")
    assert "under legal hold" in err
    assert _count(HELD) == 3

    with pytest.raises(CommandError) as refused:
        run("shred_chat", str(HELD), "--yes")
    assert refused.value.returncode == 1
    assert f"chat {HELD} is under legal hold" in str(refused.value)
    assert f"set_legal_hold {HELD} --release" in str(refused.value)
    assert _count(HELD) == 3
    assert get_store().get_chat_keys(HELD)[-1].state != "destroyed"

    # Keys still rotate and messages re-encrypt: nothing readable is destroyed.
    run("rotate_chat_keys", "--chat", str(HELD), "--no-progress")
    run("reencrypt_messages", "--chat", str(HELD), "--no-progress")
    assert _count(HELD) == 3

    out, _ = run("set_legal_hold", str(HELD), "--release")
    assert out == f"chat {HELD}: legal hold released (it was: {REASON})"
    run("purge_messages")
    assert _count(HELD) == 1
    assert not MediaFile.objects.filter(chat_id=HELD).exists()

    entries = AuditEntry.objects.filter(action__endswith="legal_hold").order_by("id")
    assert [(e.action, e.chat_id, e.filters["reason"]) for e in entries] == [
        ("set_legal_hold", HELD, REASON),
        ("release_legal_hold", HELD, REASON),
    ]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ([str(HELD), "--reason", "  "], "a legal hold needs a reason"),
        (["-1009999999999999", "--reason", REASON], "no chat -1009999999999999"),
        ([str(FREE), "--release"], f"chat {FREE} is not under legal hold"),
    ],
)
def test_refusals_change_nothing(history: None, arguments: list[str], words: str) -> None:
    with pytest.raises(CommandError, match=words):
        run("set_legal_hold", *arguments)
    assert not LegalHold.objects.exists()
    assert not AuditEntry.objects.filter(action__endswith="legal_hold").exists()
