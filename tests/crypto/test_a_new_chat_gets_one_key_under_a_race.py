"""The first messages of a new chat often arrive together (an album, a burst). Racing to
archive them, the threads of a process wrap one chat key between them, not one each: one
Cloud KMS Encrypt for the chat, counted by the KMS peer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from django.db import connections

from messages.models import ChatKey, Message
from messages.services import archive
from messages.telegram import IncomingMessage
from tests.conftest import load_update
from webhooks.updates import parse_update

THREADS = 8


def _burst() -> list[IncomingMessage]:
    first = parse_update(load_update("text_message"))
    assert isinstance(first, IncomingMessage)
    return [replace(first, message_id=first.message_id + n) for n in range(THREADS)]


def _archive_together(messages: list[IncomingMessage]) -> list[str]:
    start = threading.Barrier(len(messages))

    def one(message: IncomingMessage) -> str:
        try:
            start.wait()
            return archive(message).value
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(messages)) as pool:
        return list(pool.map(one, messages))


@pytest.mark.django_db(transaction=True)
def test_racing_first_messages_wrap_one_chat_key(kms: Any) -> None:
    if connections["default"].vendor == "sqlite":
        # The test database is SQLite in memory, whose shared cache locks whole tables with no
        # busy wait; the PostgreSQL pass of the suite runs this, and Firestore's below.
        pytest.skip("concurrent writers need PostgreSQL (or a SQLite file) here")
    outcomes = _archive_together(_burst())
    assert outcomes == ["created"] * THREADS
    assert kms.calls["Encrypt"] == 1
    assert ChatKey.objects.count() == 1
    assert Message.objects.count() == THREADS


@pytest.mark.django_db(transaction=True)
def test_racing_first_messages_on_firestore_wrap_one_chat_key(cloud: Any) -> None:
    from messages.stores import get_store

    outcomes = _archive_together(_burst())
    assert outcomes == ["created"] * THREADS
    assert cloud.calls["Encrypt"] == 1
    chat_id = _burst()[0].chat_id
    assert [k.version for k in get_store().get_chat_keys(chat_id)] == [1]
