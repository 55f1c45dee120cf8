"""The update id of an archived message is noted (for the gap count) with the message itself,
whichever path the store takes: a new message, an edit, a redelivery, a message with a file.
On PostgreSQL a new text message is then one statement in autocommit: its head, log leaf and
update id together, one round trip, as the baseline's one INSERT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from messages.models import MediaFile, ReceivedUpdate
from messages.stores import get_store
from tests.conftest import Webhook, load_update

CHAT = -1001234567890123  # the fixtures' group


def _posted(webhook: Webhook, name: str) -> int:
    update = load_update(name)
    response = webhook.post(update)
    assert response.status_code == 200, response.content
    return int(update["update_id"])


def _each_path_notes_its_update_id(webhook: Webhook) -> None:
    new = _posted(webhook, "text_message")
    edit = _posted(webhook, "edited_message")
    with_file = _posted(webhook, "photo_with_caption")
    assert set(ReceivedUpdate.objects.values_list("update_id", flat=True)) == {
        new,
        edit,
        with_file,
    }
    # A redelivery of the new message finds it stored and its id noted: nothing changes.
    _posted(webhook, "text_message")
    assert ReceivedUpdate.objects.count() == 3
    history = get_store().get_message(CHAT, 4127)
    assert history is not None
    assert len(history.revisions) == 2
    assert MediaFile.objects.filter(chat_id=CHAT, message_id=4131).count() == 1


@pytest.mark.django_db(transaction=True)  # SQLite's group commit runs outside a test's atomic
def test_every_path_notes_the_update_id_on_the_database(webhook: Webhook) -> None:
    _each_path_notes_its_update_id(webhook)


@pytest.mark.django_db(transaction=True)
def test_every_path_notes_the_update_id_on_firestore(webhook: Webhook, cloud: Any) -> None:
    _each_path_notes_its_update_id(webhook)


@pytest.mark.django_db(transaction=True)
def test_a_new_text_message_is_one_statement_in_autocommit_on_postgresql(
    webhook: Webhook, settings: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's one-statement write; the PostgreSQL pass of make test runs it")
    settings.GROUPIE_SEARCH_INDEX_CACHE_SECONDS = 30  # as served (the tests read it each time)
    _posted(webhook, "text_message")  # the chat's first message also writes its key and row
    statements: list[tuple[str, bool]] = []

    def recording(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        statements.append((sql, connection.get_autocommit() and not connection.in_atomic_block))
        return execute(sql, *args)

    update = load_update("text_message")
    update["update_id"] += 1000
    update["message"]["message_id"] += 1000
    with connection.execute_wrapper(recording):
        assert webhook.post(update).status_code == 200
    assert len(statements) == 1, [sql for sql, _ in statements]
    sql, in_autocommit = statements[0]
    assert in_autocommit
    assert "archive_receivedupdate" in sql
    assert ReceivedUpdate.objects.filter(update_id=update["update_id"]).exists()
