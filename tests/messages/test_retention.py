"""Retention: a period per chat (command and admin), and purge_messages deleting what is
older, on both stores, with a dry run and an audit entry. (What deleted rows leave in SQLite's
files is erased as for shred_chat: secure_delete and a write-ahead log checkpoint.)"""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.models import AuditEntry, ChatRetention
from messages.stores import get_store
from tests.conftest import Webhook, staff_client
from tests.factories import ChatFactory, MessageFactory, UpdateFactory

OLD, RECENT = -1001000000000701, -1001000000000702
DAY = 86_400


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def archive_history(webhook: Webhook) -> None:
    """In each chat: messages 100, 40 and 1 days old."""
    now = int(time.time())
    for chat_id in (OLD, RECENT):
        chat = ChatFactory(id=chat_id)
        for n, age in enumerate((100, 40, 1), start=1):
            message = MessageFactory(chat=chat, message_id=n, date=now - age * DAY)
            assert webhook.post(UpdateFactory(message=message)).status_code == 200


@pytest.fixture(params=["orm", "firestore"])
def backend(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "firestore":
        request.getfixturevalue("cloud")
    return str(request.param)


def test_each_chat_keeps_its_period_and_forever_is_the_default(
    backend: str, webhook: Webhook
) -> None:
    archive_history(webhook)
    assert (
        run("set_retention", str(OLD), "30")
        == f"chat {OLD}: messages older than 30 days are purged"
    )
    assert (
        run("purge_messages", "--dry-run")
        == "purge_messages: 2 messages (0 media files) would be purged in 1 chat"
    )
    assert get_store().get_chat(OLD).message_count == 3  # a dry run deletes nothing
    assert (
        run("purge_messages")
        == "purge_messages: 2 messages (2 versions, 0 media files) purged in 1 chat"
    )
    assert get_store().get_message(OLD, 1) is None
    assert get_store().get_message(OLD, 3) is not None
    assert get_store().get_chat(RECENT).message_count == 3  # no period: kept forever
    assert AuditEntry.objects.filter(action="purge_messages").count() == 1
    assert (
        run("purge_messages")
        == "purge_messages: 0 messages (0 versions, 0 media files) purged in 1 chat"
    )
    assert run("set_retention", str(OLD), "forever").endswith("kept forever")
    assert not ChatRetention.objects.exists()


def test_older_than_applies_to_the_chats_chosen(webhook: Webhook) -> None:
    archive_history(webhook)
    said = run("purge_messages", "--older-than", "50", "--chat", str(RECENT))
    assert said == "purge_messages: 1 message (1 version, 0 media files) purged in 1 chat"
    assert get_store().get_chat(RECENT).message_count == 2
    assert get_store().get_chat(OLD).message_count == 3
    with pytest.raises(CommandError, match="number of days"):
        run("purge_messages", "--older-than", "0")
    with pytest.raises(CommandError, match="number of days"):
        run("set_retention", str(OLD), "a while")


def test_staff_set_a_period_in_the_admin(db: None, webhook: Webhook) -> None:
    archive_history(webhook)  # the form picks among the archive's chats
    admin = staff_client(decrypt=False, superuser=True)
    response = admin.post("/admin/archive/chatretention/add/", {"chat_id": str(OLD), "days": "365"})
    assert response.status_code == 302
    assert ChatRetention.objects.get(chat_id=OLD).days == 365
