"""How ORMStore writes a message revision: the webhook's hot path, in raw SQL (the ORM's
per-query overhead was most of a request's cost), by one of three named strategies:

- ``put_in_one_statement`` (PostgreSQL): the three upserts as one statement of data-modifying
  CTEs, so a write is one round trip in autocommit instead of five;
- ``put_by_group_commit`` (an SQLite file, outside a caller's transaction): handed to the
  process's writer thread, which commits waiting writes together (``sqlite_writer``);
- ``put_in_transaction`` (anything else): the three upserts in one transaction.

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
from messages.models import Chat, ChatKey, Message, MessageRevision, PendingLeaf, SearchToken
from messages.stores.records import HEAD_FIELDS, PutOutcome, SealedMessage
from messages.stores.sqlite_writer import committer, uses_group_commit

_MESSAGE, _REVISION, _CHAT, _CHAT_KEY, _TOKEN, _LEAF = (
    m._meta.db_table for m in (Message, MessageRevision, Chat, ChatKey, SearchToken, PendingLeaf)
)
_REVISION_COLUMNS = "chat_id, message_id, edit_date, key_version, envelope"
_HEAD_COLUMNS = f"chat_id, message_id, sort_key, version_count, {', '.join(HEAD_FIELDS)}"
_CHAT_COLUMNS = "chat_id, type, sealed_title, first_date, last_date, message_count"


def _key_is_active(lock: str) -> str:
    """The revision is inserted only if its chat-key version is the chat's active one, in the
    same statement. On PostgreSQL the check takes a share lock on the key row, so a rotation or
    shred (which updates that row) either waits for this write or makes it find the key no
    longer active; SQLite serializes writers anyway."""
    return f"""EXISTS (
        SELECT 1 FROM {_CHAT_KEY}
        WHERE chat_id = %s AND version = %s AND state = '{ACTIVE}' {lock}
    )"""  # noqa: S608


_REVISION_ON_CONFLICT = "ON CONFLICT (chat_id, message_id, edit_date) DO NOTHING"


def _newer(column: str) -> str:
    """Takes the incoming value only when the incoming revision is the newer one. In an
    upsert's SET every expression sees the row as it was, so the comparison is consistent."""
    return (
        f"{column} = CASE WHEN excluded.edit_date > {_MESSAGE}.edit_date "
        f"THEN excluded.{column} ELSE {_MESSAGE}.{column} END"
    )


_HEAD_ON_CONFLICT = f"""ON CONFLICT (chat_id, message_id) DO UPDATE SET
        version_count = {_MESSAGE}.version_count + 1,
        {", ".join(_newer(c) for c in HEAD_FIELDS if c not in ("date", "edit_date"))},
        {_newer("edit_date")}
    RETURNING version_count"""

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

# Three statements that SQLite (3.35+) and PostgreSQL both speak, each an atomic upsert on a
# unique index.
_INSERT_REVISION = f"""
    INSERT INTO {_REVISION} ({_REVISION_COLUMNS})
    SELECT %s, %s, %s, %s, %s WHERE {_key_is_active(lock="")}
    {_REVISION_ON_CONFLICT}
"""
_UPSERT_HEAD = f"""
    INSERT INTO {_MESSAGE} ({_HEAD_COLUMNS})
    VALUES (%s, %s, %s, 1, {", ".join(["%s"] * len(HEAD_FIELDS))})
    {_HEAD_ON_CONFLICT}
"""  # noqa: S608
_UPSERT_CHAT = f"""
    INSERT INTO {_CHAT} ({_CHAT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, 0)
    {_CHAT_ON_CONFLICT}
"""  # noqa: S608

# PostgreSQL: the same upserts as one statement. The casts type the parameters, which a SELECT
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
_PUT_REVISION_AND_HEAD_POSTGRESQL = f"""
    WITH revision AS (
        INSERT INTO {_REVISION} ({_REVISION_COLUMNS})
        SELECT %s::bigint, %s::bigint, %s::bigint, %s::integer, %s::bytea
        WHERE {_key_is_active(lock="FOR SHARE")}
        {_REVISION_ON_CONFLICT}
        RETURNING 1
    ), head AS (
        INSERT INTO {_MESSAGE} ({_HEAD_COLUMNS})
        SELECT %s::bigint, %s::bigint, %s::varchar, 1,
            {", ".join(f"%s::{_CASTS[c]}" for c in HEAD_FIELDS)}
        FROM revision
        {_HEAD_ON_CONFLICT}
    )"""  # noqa: S608
# With the chat's row, when its entry changed, and with the revision's search tokens, when its
# chat is indexed (a replay, which inserts no revision, adds none: they came the first time):
# more CTEs, still one statement.
_CHAT_POSTGRESQL = f""", chat AS (
        INSERT INTO {_CHAT} ({_CHAT_COLUMNS})
        SELECT %s::bigint, %s::varchar, %s::bytea, %s::bigint, %s::bigint, 0
        FROM head
        {_CHAT_ON_CONFLICT}
    )"""  # noqa: S608
_TOKENS_POSTGRESQL = f""", tokens AS (
        INSERT INTO {_TOKEN} (chat_id, token, message_id, key_version)
        SELECT %s::bigint, unnest(%s::bigint[]), %s::bigint, %s::integer FROM revision
        ON CONFLICT DO NOTHING
    )"""  # noqa: S608
# And the revision's pending log leaf, keyed by the revision: one small row, no hot one.
_LEAF_POSTGRESQL = f""", leaf AS (
        INSERT INTO {_LEAF} (key, leaf, created)
        SELECT %s::varchar, %s::bytea, %s::bigint FROM revision
        ON CONFLICT DO NOTHING
    )"""  # noqa: S608
# (with the chat's row, with tokens, with a leaf) -> the statement
_PUT_POSTGRESQL = {
    (chat, tokens, leaf): _PUT_REVISION_AND_HEAD_POSTGRESQL  # noqa: S608 - our own names only
    + (_CHAT_POSTGRESQL if chat else "")
    + (_TOKENS_POSTGRESQL if tokens else "")
    + (_LEAF_POSTGRESQL if leaf else "")
    + "\n    SELECT version_count FROM head\n"
    for chat in (False, True)
    for tokens in (False, True)
    for leaf in (False, True)
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


def _revision_row(message: SealedMessage) -> tuple[Any, ...]:
    return (
        message.chat_id,
        message.message_id,
        message.edit_date,
        message.key_version,
        message.envelope,
        message.chat_id,
        message.key_version,
    )


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


def _not_stored(cursor: Any, message: SealedMessage) -> PutOutcome | None:
    """Nothing was inserted: the revision was stored before (DUPLICATE), or its key is no
    longer active (None)."""
    cursor.execute(_REVISION_EXISTS, (message.chat_id, message.message_id, message.edit_date))
    return PutOutcome.DUPLICATE if cursor.fetchone() is not None else None


def _put_with(cursor: Any, message: SealedMessage) -> PutOutcome | None:
    cursor.execute(_INSERT_REVISION, _revision_row(message))
    if cursor.rowcount == 0:
        return _not_stored(cursor, message)
    cursor.execute(_UPSERT_HEAD, _head_row(message))
    (version_count,) = cursor.fetchone()
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
    return PutOutcome.CREATED if version_count == 1 else PutOutcome.REVISED


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


def put_in_one_statement(message: SealedMessage, then: Then = None) -> PutOutcome | None:
    outcome = _put_in_one_statement(message)
    if outcome is not None and then is not None:
        # Its own short transaction: measured faster on PostgreSQL than the one statement
        # in a transaction with it (bench-ingest: 900 against 625 updates/s, 1 in 10 a photo).
        with transaction.atomic():
            then()
    return outcome


def _put_in_one_statement(message: SealedMessage) -> PutOutcome | None:
    parameters: tuple[Any, ...] = (*_revision_row(message), *_head_row(message))
    if message.chat.changed:
        parameters = (*parameters, *_chat_row(message))
    if message.search_tokens:
        values = [token_value(t) for t in sorted(message.search_tokens)]
        parameters = (*parameters, message.chat_id, values, message.message_id, message.key_version)
    leaf = _leaf_row(message)
    if leaf is not None:
        parameters = (*parameters, *leaf)
    statement = _PUT_POSTGRESQL[message.chat.changed, bool(message.search_tokens), leaf is not None]
    # In autocommit the statement is its own transaction. Inside a caller's transaction a
    # savepoint keeps a failure from aborting the caller's work as well.
    nested = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with nested, connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        row = cursor.fetchone()
        if row is None:
            return _not_stored(cursor, message)
    return PutOutcome.CREATED if row[0] == 1 else PutOutcome.REVISED


def put_message(message: SealedMessage, then: Then = None) -> PutOutcome | None:
    """Stores one revision with the strategy that suits the connection, and runs ``then``
    after it (see MessageStore.put_message)."""
    if connection.vendor == "postgresql":
        return put_in_one_statement(message, then)
    # Inside a caller's transaction the write must be part of it, not of the writer's.
    if uses_group_commit() and not connection.in_atomic_block:
        return put_by_group_commit(message, then)
    return put_in_transaction(message, then)
