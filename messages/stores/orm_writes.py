"""How ORMStore writes a message revision: the webhook's hot path, in raw SQL (the ORM's
per-query overhead was most of a request's cost).

Each version's envelope is stored once: the head (``Message``) holds the newest version, and a
``MessageRevision`` row exists only for a superseded one. A new message is one row; an edit
moves the head's envelope into a revision row and puts its own in the head (an edit older than
the head, arriving late, is a revision row only). The edit path reads the head with a row lock,
so concurrent edits of one message are serialized.

By one of three named strategies:

- ``put_in_one_statement`` (PostgreSQL): a new message's head, with the chat's row, tokens, log
  leaf and update id, as one statement of data-modifying CTEs (one round trip in autocommit);
  a message already stored (a replay, an edit) then takes ``put_in_transaction``;
- ``put_by_group_commit`` (an SQLite file, outside a caller's transaction): handed to the
  process's writer thread, which commits waiting writes together (``sqlite_writer``);
- ``put_in_transaction`` (anything else): the same statements in one transaction.

Each returns the outcome, or None when nothing was stored because the record's chat-key
version is no longer active (not an exception: in a group commit that would fail the whole
batch). The SQL is built from our own table and column names only; every value is a parameter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from django.db import connection, transaction

from crypto.chatkeys import ACTIVE
from messages.models import (
    Chat,
    ChatKey,
    Message,
    MessageRevision,
    PendingLeaf,
    ReceivedUpdate,
    SearchToken,
)
from messages.stores.records import HEAD_FIELDS, PutOutcome, SealedMessage
from messages.stores.sqlite_writer import committer, uses_group_commit

_MESSAGE, _REVISION, _CHAT, _CHAT_KEY, _TOKEN, _LEAF, _RECEIVED = (
    m._meta.db_table
    for m in (Message, MessageRevision, Chat, ChatKey, SearchToken, PendingLeaf, ReceivedUpdate)
)
_REVISION_COLUMNS = "chat_id, message_id, edit_date, key_version, envelope"
_HEAD_COLUMNS = f"chat_id, message_id, sort_key, version_count, {', '.join(HEAD_FIELDS)}"
_CHAT_COLUMNS = "chat_id, type, sealed_title, first_date, last_date, message_count"


def _key_is_active(lock: str) -> str:
    """The record is written only if its chat-key version is the chat's active one, in the
    same statement. On PostgreSQL the check takes a share lock on the key row, so a rotation or
    shred (which updates that row) either waits for this write or makes it find the key no
    longer active; SQLite serializes writers anyway."""
    return f"""EXISTS (
        SELECT 1 FROM {_CHAT_KEY}
        WHERE chat_id = %s AND version = %s AND state = '{ACTIVE}' {lock}
    )"""  # noqa: S608


_FOR_UPDATE = {"postgresql": "FOR UPDATE", "sqlite": ""}  # SQLite serializes writers
_FOR_SHARE = {"postgresql": "FOR SHARE", "sqlite": ""}


def _lock(locks: dict[str, str]) -> str:
    return locks.get(connection.vendor, "")


def _insert_head(lock: str) -> str:
    """A new message's head, inserted only if its chat-key version is active (see
    _key_is_active) and the message is not stored yet: one row, nothing to update."""
    return f"""
    INSERT INTO {_MESSAGE} ({_HEAD_COLUMNS})
    SELECT %s, %s, %s, 1, {", ".join(["%s"] * len(HEAD_FIELDS))}
    WHERE {_key_is_active(lock)}
    ON CONFLICT (chat_id, message_id) DO NOTHING
"""


# The edit path, in a transaction: the head under a row lock (concurrent edits of a message
# wait for each other), then the key's state (shared lock, as above).
_HEAD_OF = f"""
    SELECT edit_date, key_version, envelope FROM {_MESSAGE}
    WHERE chat_id = %s AND message_id = %s {{lock}}
"""  # noqa: S608
_KEY_ACTIVE = f"""
    SELECT 1 FROM {_CHAT_KEY} WHERE chat_id = %s AND version = %s AND state = '{ACTIVE}' {{lock}}
"""  # noqa: S608
# The head's version, superseded, becomes a revision row. An upsert: in an archive written
# before envelopes were stored once, a row for that version may exist already (the same
# envelope, unless compact_envelopes' batch is deleting it: then this waits and inserts).
_SUPERSEDE = f"""
    INSERT INTO {_REVISION} ({_REVISION_COLUMNS}) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (chat_id, message_id, edit_date)
    DO UPDATE SET key_version = excluded.key_version, envelope = excluded.envelope
"""  # noqa: S608
# An edit older than the head (delivered late): a revision row only.
_INSERT_REVISION = f"""
    INSERT INTO {_REVISION} ({_REVISION_COLUMNS}) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (chat_id, message_id, edit_date) DO NOTHING
"""  # noqa: S608
_NEWER_HEAD = f"""
    UPDATE {_MESSAGE} SET version_count = version_count + 1,
        {", ".join(f"{c} = %s" for c in HEAD_FIELDS)}
    WHERE chat_id = %s AND message_id = %s
"""  # noqa: S608
_ONE_MORE_VERSION = f"""
    UPDATE {_MESSAGE} SET version_count = version_count + 1
    WHERE chat_id = %s AND message_id = %s
"""  # noqa: S608


# The chat's row is written only when the archive service says its entry changed (a new chat,
# type, title or key version, or a minute since this process last wrote it): never per
# message, so a busy chat's row is no hot spot. Message counts come from the heads.
_CHAT_ON_CONFLICT = f"""ON CONFLICT (chat_id) DO UPDATE SET
        type = excluded.type,
        first_date = CASE WHEN excluded.first_date < {_CHAT}.first_date
            THEN excluded.first_date ELSE {_CHAT}.first_date END,
        last_date = CASE WHEN excluded.last_date > {_CHAT}.last_date
            THEN excluded.last_date ELSE {_CHAT}.last_date END,
        sealed_title = CASE
            WHEN excluded.sealed_title IS NOT NULL AND excluded.last_date >= {_CHAT}.last_date
            THEN excluded.sealed_title ELSE {_CHAT}.sealed_title END"""

_UPSERT_CHAT = f"""
    INSERT INTO {_CHAT} ({_CHAT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, 0)
    {_CHAT_ON_CONFLICT}
"""  # noqa: S608


# PostgreSQL: a new message as one statement. The casts type the parameters, which a SELECT
# list would otherwise leave as text.
_CASTS = {
    "date": "bigint",
    "edit_date": "bigint",
    "kind": "varchar",
    "thread_id": "bigint",
    "sender_id": "bigint",
    "reply_to_message_id": "bigint",
    "media_group_id": "varchar",
    "key_version": "integer",
    "envelope": "bytea",
}
_PUT_HEAD_POSTGRESQL = f"""
    WITH head AS (
        INSERT INTO {_MESSAGE} ({_HEAD_COLUMNS})
        SELECT %s::bigint, %s::bigint, %s::varchar, 1,
            {", ".join(f"%s::{_CASTS[c]}" for c in HEAD_FIELDS)}
        WHERE {_key_is_active(lock="FOR SHARE")}
        ON CONFLICT (chat_id, message_id) DO NOTHING
        RETURNING 1
    )"""
# With the chat's row, when its entry changed, and with the message's search tokens, when its
# chat is indexed: more CTEs, still one statement.
_CHAT_POSTGRESQL = f""", chat AS (
        INSERT INTO {_CHAT} ({_CHAT_COLUMNS})
        SELECT %s::bigint, %s::varchar, %s::bytea, %s::bigint, %s::bigint, 0
        FROM head
        {_CHAT_ON_CONFLICT}
    )"""  # noqa: S608
_TOKENS_POSTGRESQL = f""", tokens AS (
        INSERT INTO {_TOKEN} (chat_id, token, message_id, key_version)
        SELECT %s::bigint, unnest(%s::bigint[]), %s::bigint, %s::integer FROM head
        ON CONFLICT DO NOTHING
    )"""  # noqa: S608
# And the revision's pending log leaf, keyed by the revision: one small row, no hot one.
_LEAF_POSTGRESQL = f""", leaf AS (
        INSERT INTO {_LEAF} (key, leaf, created)
        SELECT %s::varchar, %s::bytea, %s::bigint FROM head
        ON CONFLICT DO NOTHING
    )"""  # noqa: S608
# And the id of the update that brought it, noted as taken in (webhooks.gaps).
_RECEIVED_POSTGRESQL = f""", received AS (
        INSERT INTO {_RECEIVED} (update_id, received_at)
        SELECT %s::bigint, %s::bigint FROM head
        ON CONFLICT DO NOTHING
    )"""  # noqa: S608
# (with the chat's row, with tokens, with a leaf, with an update id) -> the statement
_PUT_POSTGRESQL = {
    (chat, tokens, leaf, received): _PUT_HEAD_POSTGRESQL  # noqa: S608 - our own names only
    + (_CHAT_POSTGRESQL if chat else "")
    + (_TOKENS_POSTGRESQL if tokens else "")
    + (_LEAF_POSTGRESQL if leaf else "")
    + (_RECEIVED_POSTGRESQL if received else "")
    + "\n    SELECT 1 FROM head\n"
    for chat in (False, True)
    for tokens in (False, True)
    for leaf in (False, True)
    for received in (False, True)
}

# The same tokens on SQLite, or in a transaction: after the revision and head.
INSERT_TOKEN = f"""
    INSERT INTO {_TOKEN} (chat_id, token, message_id, key_version) VALUES (%s, %s, %s, %s)
    ON CONFLICT DO NOTHING
"""  # noqa: S608

INSERT_LEAF = f"""
    INSERT INTO {_LEAF} (key, leaf, created) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING
"""  # noqa: S608

_REVISION_EXISTS = f"""
    SELECT 1 FROM {_REVISION} WHERE chat_id = %s AND message_id = %s AND edit_date = %s
"""  # noqa: S608


def _head_row(message: SealedMessage) -> tuple[Any, ...]:
    fields = tuple(getattr(message, name) for name in HEAD_FIELDS)
    return (message.chat_id, message.message_id, message.sort_key, *fields)


def _chat_row(message: SealedMessage) -> tuple[Any, ...]:
    chat = message.chat
    return (chat.chat_id, chat.type, chat.sealed_title, message.date, message.date)


def _leaf_row(message: SealedMessage) -> tuple[Any, ...] | None:
    pending = message.pending_leaf(time.time_ns() // 1000)
    return None if pending is None else (pending.key, pending.leaf, pending.created)


def token_value(token: bytes) -> int:
    """A token as the table keeps it: its 8 bytes as a signed 64-bit integer."""
    return int.from_bytes(token, "big", signed=True)


def token_rows(
    chat_id: int, message_id: int, key_version: int, tokens: frozenset[bytes]
) -> list[tuple[int, int, int, int]]:
    """The rows of one message's tokens under one key version."""
    return [(chat_id, token_value(t), message_id, key_version) for t in sorted(tokens)]


def _key_row(message: SealedMessage) -> tuple[Any, ...]:
    return (message.chat_id, message.key_version)


def _revise(cursor: Any, message: SealedMessage) -> PutOutcome | None:
    """A revision of a message whose head exists (else None: its key is not active, as the
    head's insert found): DUPLICATE if that version is stored, None if the key is no longer
    active, else REVISED, with the newer version in the head and the other in a revision row."""
    chat_id, message_id = message.chat_id, message.message_id
    cursor.execute(_HEAD_OF.format(lock=_lock(_FOR_UPDATE)), (chat_id, message_id))
    head = cursor.fetchone()
    if head is None:
        return None
    head_edit_date, head_key_version, head_envelope = head
    if head_edit_date == message.edit_date:
        return PutOutcome.DUPLICATE
    cursor.execute(_REVISION_EXISTS, (chat_id, message_id, message.edit_date))
    if cursor.fetchone() is not None:
        return PutOutcome.DUPLICATE
    cursor.execute(_KEY_ACTIVE.format(lock=_lock(_FOR_SHARE)), _key_row(message))
    if cursor.fetchone() is None:
        return None
    if message.edit_date > head_edit_date:
        superseded = (chat_id, message_id, head_edit_date, head_key_version, head_envelope)
        cursor.execute(_SUPERSEDE, superseded)
        fields = tuple(getattr(message, name) for name in HEAD_FIELDS)
        cursor.execute(_NEWER_HEAD, (*fields, chat_id, message_id))
    else:
        row = (chat_id, message_id, message.edit_date, message.key_version, message.envelope)
        cursor.execute(_INSERT_REVISION, row)
        cursor.execute(_ONE_MORE_VERSION, (chat_id, message_id))
    return PutOutcome.REVISED


def _put_with(cursor: Any, message: SealedMessage) -> PutOutcome | None:
    cursor.execute(_insert_head(_lock(_FOR_SHARE)), (*_head_row(message), *_key_row(message)))
    if cursor.rowcount == 1:
        outcome: PutOutcome | None = PutOutcome.CREATED
    else:
        outcome = _revise(cursor, message)
        if outcome is not PutOutcome.REVISED:
            return outcome
    if message.search_tokens:
        rows = token_rows(
            message.chat_id, message.message_id, message.key_version, message.search_tokens
        )
        cursor.executemany(INSERT_TOKEN, rows)
    if message.chat.changed:
        cursor.execute(_UPSERT_CHAT, _chat_row(message))
    leaf = _leaf_row(message)
    if leaf is not None:
        cursor.execute(INSERT_LEAF, leaf)
    return outcome


Then = Callable[[], object] | None  # a write that belongs with the record (see put_message)


def _put_then(cursor: Any, message: SealedMessage, then: Then) -> PutOutcome | None:
    outcome = _put_with(cursor, message)
    if outcome is not None and then is not None:
        then()
    return outcome


def put_in_transaction(message: SealedMessage, then: Then = None) -> PutOutcome | None:
    with transaction.atomic(), connection.cursor() as cursor:
        return _put_then(cursor, message, then)


def put_by_group_commit(message: SealedMessage, then: Then = None) -> PutOutcome | None:
    return committer.submit(lambda cursor: _put_then(cursor, message, then))


def put_in_one_statement(
    message: SealedMessage, update_id: int | None = None, then: Then = None
) -> PutOutcome | None:
    if then is None:
        # In autocommit: one statement, one commit, the update id included.
        outcome = _put_in_one_statement(message, update_id)
    else:
        # With what belongs with it (a file's record): one commit, not two.
        with transaction.atomic():
            outcome = _put_in_one_statement(message, update_id, own_transaction=True)
            if outcome is not None:
                then()
    if outcome is None:
        # Stored already (a replay, an edit) or its key is not active: the edit path decides.
        return put_in_transaction(message, ReceivedUpdate.noting(update_id, then))
    return outcome


def _put_in_one_statement(
    message: SealedMessage, update_id: int | None, *, own_transaction: bool = False
) -> PutOutcome | None:
    """A new message in one statement: CREATED, or None when the message is stored already
    or its key is not active (the caller's transaction then tells which). In a transaction
    that ``own_transaction`` says was opened for it alone, a failure ends that transaction:
    no savepoint needed."""
    parameters: tuple[Any, ...] = (*_head_row(message), *_key_row(message))
    if message.chat.changed:
        parameters = (*parameters, *_chat_row(message))
    if message.search_tokens:
        values = [token_value(t) for t in sorted(message.search_tokens)]
        parameters = (*parameters, message.chat_id, values, message.message_id, message.key_version)
    leaf = _leaf_row(message)
    if leaf is not None:
        parameters = (*parameters, *leaf)
    if update_id is not None:
        parameters = (*parameters, update_id, int(time.time()))
    statement = _PUT_POSTGRESQL[
        message.chat.changed, bool(message.search_tokens), leaf is not None, update_id is not None
    ]
    # In autocommit the statement is its own transaction. Inside a caller's transaction a
    # savepoint keeps a failure from aborting the caller's work as well.
    nested = (
        transaction.atomic()
        if connection.in_atomic_block and not own_transaction
        else nullcontext()
    )
    with nested, connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        row = cursor.fetchone()
    return PutOutcome.CREATED if row is not None else None


def put_message(
    message: SealedMessage, update_id: int | None = None, then: Then = None
) -> PutOutcome | None:
    """Stores one revision with the strategy that suits the connection, and notes
    ``update_id`` and runs ``then`` with it (see MessageStore.put_message)."""
    if connection.vendor == "postgresql":
        return put_in_one_statement(message, update_id, then)
    then = ReceivedUpdate.noting(update_id, then)
    # Inside a caller's transaction the write must be part of it, not of the writer's.
    if uses_group_commit() and not connection.in_atomic_block:
        return put_by_group_commit(message, then)
    return put_in_transaction(message, then)
