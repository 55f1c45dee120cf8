"""ORMStore: the store contract on Django models (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Q

from crypto.chatkeys import ACTIVE, ChatKeyRecord
from messages import sortkey
from messages.models import Chat, ChatKey, Message, MessageRevision
from messages.stores.base import (
    HEAD_FIELDS,
    ChatRecord,
    DeleteResult,
    InactiveChatKey,
    MessageHistory,
    MessageId,
    MessageQuery,
    MessageStore,
    Page,
    PutOutcome,
    Reseal,
    SealedMessage,
    SealedRevision,
    StoredMessage,
    StoredRevision,
    StoreError,
)
from messages.stores.sqlite_writer import committer, uses_group_commit

_MESSAGE, _REVISION, _CHAT, _CHAT_KEY = (
    m._meta.db_table for m in (Message, MessageRevision, Chat, ChatKey)
)
# The SQL below is built from our own table and column names only; every value is a parameter.


def _insert_revision(*, casts: bool, lock: str) -> str:
    """Inserts a revision only if its chat-key version is the chat's active one, in the same
    statement. On PostgreSQL the check takes a share lock on the key row, so a rotation or
    shred (which updates that row) either waits for this write or makes it find the key no
    longer active; SQLite serializes writers anyway."""
    values = (
        "%s::bigint, %s::bigint, %s::bigint, %s::integer, %s::bytea"
        if casts
        else ("%s, %s, %s, %s, %s")
    )
    return f"""
        INSERT INTO {_REVISION} (chat_id, message_id, edit_date, key_version, envelope)
        SELECT {values} WHERE EXISTS (
            SELECT 1 FROM {_CHAT_KEY}
            WHERE chat_id = %s AND version = %s AND state = '{ACTIVE}' {lock}
        )
        ON CONFLICT (chat_id, message_id, edit_date) DO NOTHING
    """  # noqa: S608


_INSERT_REVISION = _insert_revision(casts=False, lock="")
# Re-sealing: raw statements, as the ORM's per-query overhead was most of the cost.
_RESEAL = """
    UPDATE {table} SET envelope = %s, key_version = %s
    WHERE chat_id = %s AND message_id = %s AND edit_date = %s AND envelope = %s
"""
_RESEAL_REVISION = _RESEAL.format(table=_REVISION)
_RESEAL_HEAD = _RESEAL.format(table=_MESSAGE)
_REVISION_EXISTS = f"""
    SELECT 1 FROM {_REVISION} WHERE chat_id = %s AND message_id = %s AND edit_date = %s
"""  # noqa: S608


def _newer(column: str) -> str:
    """Takes the incoming value only when the incoming revision is the newer one. In an
    upsert's SET every expression sees the row as it was, so the comparison is consistent."""
    return (
        f"{column} = CASE WHEN excluded.edit_date > {_MESSAGE}.edit_date "
        f"THEN excluded.{column} ELSE {_MESSAGE}.{column} END"
    )


_UPSERT_HEAD = f"""
    INSERT INTO {_MESSAGE} (chat_id, message_id, sort_key, version_count, {", ".join(HEAD_FIELDS)})
    VALUES (%s, %s, %s, 1, {", ".join(["%s"] * len(HEAD_FIELDS))})
    ON CONFLICT (chat_id, message_id) DO UPDATE SET
        version_count = {_MESSAGE}.version_count + 1,
        {", ".join(_newer(c) for c in HEAD_FIELDS if c not in ("date", "edit_date"))},
        {_newer("edit_date")}
    RETURNING version_count
"""  # noqa: S608

_UPSERT_CHAT = f"""
    INSERT INTO {_CHAT} (chat_id, type, sealed_title, first_date, last_date, message_count)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (chat_id) DO UPDATE SET
        type = excluded.type,
        first_date = CASE WHEN excluded.first_date < {_CHAT}.first_date
            THEN excluded.first_date ELSE {_CHAT}.first_date END,
        last_date = CASE WHEN excluded.last_date > {_CHAT}.last_date
            THEN excluded.last_date ELSE {_CHAT}.last_date END,
        message_count = {_CHAT}.message_count + excluded.message_count,
        sealed_title = CASE
            WHEN excluded.sealed_title IS NOT NULL AND excluded.last_date >= {_CHAT}.last_date
            THEN excluded.sealed_title ELSE {_CHAT}.sealed_title END
"""  # noqa: S608


# PostgreSQL: the same three upserts as one statement of data-modifying CTEs, so a webhook
# write is one round trip in autocommit instead of five (BEGIN, three statements, COMMIT).
# The casts type the parameters, which a SELECT list would otherwise leave as text.
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
_PUT_MESSAGE_POSTGRESQL = f"""
    WITH revision AS (
        {_insert_revision(casts=True, lock="FOR SHARE").strip()}
        RETURNING 1
    ), head AS (
        INSERT INTO {_MESSAGE} (chat_id, message_id, sort_key, version_count,
            {", ".join(HEAD_FIELDS)})
        SELECT %s::bigint, %s::bigint, %s::varchar, 1,
            {", ".join(f"%s::{_CASTS[c]}" for c in HEAD_FIELDS)}
        FROM revision
        ON CONFLICT {_UPSERT_HEAD.split("ON CONFLICT", 1)[1].strip()}
    ), chat AS (
        INSERT INTO {_CHAT} (chat_id, type, sealed_title, first_date, last_date, message_count)
        SELECT %s::bigint, %s::varchar, %s::bytea, %s::bigint, %s::bigint,
            CASE WHEN head.version_count = 1 THEN 1 ELSE 0 END
        FROM head
        ON CONFLICT {_UPSERT_CHAT.split("ON CONFLICT", 1)[1].strip()}
    )
    SELECT version_count FROM head
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


def _not_stored(cursor: Any, message: SealedMessage) -> PutOutcome | None:
    """Nothing was inserted: the revision was stored before (DUPLICATE), or its key is no
    longer active (None). Not an exception: in a group commit that would fail the whole batch."""
    cursor.execute(_REVISION_EXISTS, (message.chat_id, message.message_id, message.edit_date))
    return PutOutcome.DUPLICATE if cursor.fetchone() is not None else None


def _refused_unless(outcome: PutOutcome | None, message: SealedMessage) -> PutOutcome:
    if outcome is None:
        raise InactiveChatKey(
            f"chat {message.chat_id} key version {message.key_version} is no longer active"
        )
    return outcome


def _head_row(message: SealedMessage) -> tuple[Any, ...]:
    fields = tuple(getattr(message, name) for name in HEAD_FIELDS)
    return (message.chat_id, message.message_id, message.sort_key, *fields)


def _chat_row(message: SealedMessage, *, new_message: bool) -> tuple[Any, ...]:
    chat = message.chat
    return (
        chat.chat_id,
        chat.type,
        chat.sealed_title,
        message.date,
        message.date,
        int(new_message),
    )


def _put(cursor: Any, message: SealedMessage) -> PutOutcome | None:
    """Three statements in one transaction, in SQL that SQLite (3.35+) and PostgreSQL both
    speak: this is the webhook's hot path, where the ORM's per-query overhead was most of the
    request's cost. Each statement is an atomic upsert on a unique index."""
    cursor.execute(_INSERT_REVISION, _revision_row(message))
    if cursor.rowcount == 0:
        return _not_stored(cursor, message)
    cursor.execute(_UPSERT_HEAD, _head_row(message))
    (version_count,) = cursor.fetchone()
    created = version_count == 1
    cursor.execute(_UPSERT_CHAT, _chat_row(message, new_message=created))
    return PutOutcome.CREATED if created else PutOutcome.REVISED


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        # The driver's message may quote parameters; only the class name leaves this module.
        raise StoreError(f"database error: {type(exc).__name__}") from exc


class ORMStore(MessageStore):
    # -- writes -------------------------------------------------------------------------------

    def put_message(self, message: SealedMessage) -> PutOutcome:
        if connection.vendor == "postgresql":
            return self._put_message_in_one_statement(message)
        # Inside a caller's transaction the write must be part of it, not of the writer's.
        if uses_group_commit() and not connection.in_atomic_block:
            with _database_errors():
                return _refused_unless(
                    committer.submit(lambda cursor: _put(cursor, message)), message
                )
        with _database_errors(), transaction.atomic(), connection.cursor() as cursor:
            return _refused_unless(_put(cursor, message), message)

    def _put_message_in_one_statement(self, message: SealedMessage) -> PutOutcome:
        chat_row = _chat_row(message, new_message=False)[:5]
        parameters = (*_revision_row(message), *_head_row(message), *chat_row)
        # In autocommit the statement is its own transaction. Inside a caller's transaction a
        # savepoint keeps a failure from aborting the caller's work as well.
        nested = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with _database_errors(), nested, connection.cursor() as cursor:
            cursor.execute(_PUT_MESSAGE_POSTGRESQL, parameters)
            row = cursor.fetchone()
            if row is None:
                return _refused_unless(_not_stored(cursor, message), message)
        return PutOutcome.CREATED if row[0] == 1 else PutOutcome.REVISED

    def link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        with _database_errors(), transaction.atomic():
            Chat.objects.filter(chat_id=old_chat_id).update(migrated_to_chat_id=new_chat_id)
            Chat.objects.filter(chat_id=new_chat_id).update(migrated_from_chat_id=old_chat_id)

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        with _database_errors():
            try:
                with transaction.atomic():
                    ChatKey.objects.create(**_chat_key_fields(record))
                return record
            except IntegrityError:
                row = ChatKey.objects.get(chat_id=record.chat_id, version=record.version)
                return _chat_key_record(row)

    def change_chat_keys(
        self, chat_id: int, expected: Sequence[ChatKeyRecord], changed: Sequence[ChatKeyRecord]
    ) -> bool:
        with _database_errors(), transaction.atomic():
            rows = ChatKey.objects.select_for_update().filter(chat_id=chat_id)
            if _fingerprint(map(_chat_key_record, rows)) != _fingerprint(expected):
                return False
            for record in changed:
                values = _chat_key_fields(record)
                ChatKey.objects.update_or_create(
                    chat_id=values.pop("chat_id"), version=values.pop("version"), defaults=values
                )
            return True

    def replace_envelopes(self, chat_id: int, reseals: Sequence[Reseal]) -> int:
        changed = 0
        with _database_errors(), transaction.atomic(), connection.cursor() as cursor:
            for r in reseals:
                row = (r.new, r.key_version, chat_id, r.message_id, r.edit_date, r.old)
                cursor.execute(_RESEAL_REVISION, row)
                changed += cursor.rowcount
                cursor.execute(_RESEAL_HEAD, row)
        return changed

    def replace_chat_title(self, chat_id: int, old: bytes, new: bytes) -> bool:
        with _database_errors():
            rows = Chat.objects.filter(chat_id=chat_id, sealed_title=old)
            return rows.update(sealed_title=new) == 1

    def delete_chat(self, chat_id: int) -> DeleteResult:
        with _database_errors(), transaction.atomic():
            revisions, _ = MessageRevision.objects.filter(chat_id=chat_id).delete()
            messages, _ = Message.objects.filter(chat_id=chat_id).delete()
            chats, _ = Chat.objects.filter(chat_id=chat_id).delete()
        return DeleteResult(messages=messages, revisions=revisions, chats=chats)

    # -- reads --------------------------------------------------------------------------------

    def get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        with _database_errors():
            heads = Message.objects.filter(chat_id=chat_id, message_id=message_id)
            row = heads.values(*_STORED_FIELDS).first()
            if row is None:
                return None
            revisions = MessageRevision.objects.filter(
                chat_id=chat_id, message_id=message_id
            ).order_by("edit_date")
            return MessageHistory(head=_stored(row), revisions=_revisions(revisions))

    def get_messages(self, ids: Iterable[MessageId]) -> dict[MessageId, StoredMessage]:
        wanted = set(ids)
        if not wanted:
            return {}
        by_chat: dict[int, list[int]] = {}
        for chat_id, message_id in wanted:
            by_chat.setdefault(chat_id, []).append(message_id)
        condition = Q()
        for chat_id, message_ids in by_chat.items():
            condition |= Q(chat_id=chat_id, message_id__in=message_ids)
        with _database_errors():
            rows = Message.objects.filter(condition).values(*_STORED_FIELDS)
            return {(r["chat_id"], r["message_id"]): _stored(r) for r in rows}

    def query(self, query: MessageQuery) -> Page:
        rows = Message.objects.all()
        if len(query.chats) == 1:
            rows = rows.filter(chat_id=query.chats[0])
        elif query.chats:
            rows = rows.filter(chat_id__in=query.chats)
        if query.user is not None:
            rows = rows.filter(sender_id=query.user)
        if query.thread is not None:
            rows = rows.filter(thread_id=query.thread)
        if query.kind is not None:
            rows = rows.filter(kind=query.kind)
        if query.edited is not None:
            rows = (
                rows.filter(version_count__gt=1) if query.edited else rows.filter(version_count=1)
            )
        if query.since is not None:
            rows = rows.filter(sort_key__gte=sortkey.lowest_at(query.since))
        if query.until is not None:
            rows = rows.filter(sort_key__lte=sortkey.highest_at(query.until))
        if query.after is not None:
            after = "sort_key__lt" if query.descending else "sort_key__gt"
            rows = rows.filter(**{after: query.after})
        rows = rows.order_by("-sort_key" if query.descending else "sort_key")
        with _database_errors():
            found = [_stored(r) for r in rows.values(*_STORED_FIELDS)[: query.limit + 1]]
        return Page(items=found[: query.limit], has_more=len(found) > query.limit)

    def get_chat(self, chat_id: int) -> ChatRecord | None:
        with _database_errors():
            row = Chat.objects.filter(chat_id=chat_id).first()
        return _chat_record(row) if row else None

    def list_chats(self) -> list[ChatRecord]:
        with _database_errors():
            return [_chat_record(r) for r in Chat.objects.order_by("-last_date", "chat_id")]

    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        return self.get_chat_keys_many([chat_id]).get(chat_id, [])

    def get_chat_keys_many(self, chat_ids: Collection[int]) -> dict[int, list[ChatKeyRecord]]:
        found: dict[int, list[ChatKeyRecord]] = {}
        if not chat_ids:
            return found
        rows = ChatKey.objects.filter(chat_id__in=set(chat_ids)).order_by("chat_id", "version")
        with _database_errors():
            for row in rows:
                found.setdefault(row.chat_id, []).append(_chat_key_record(row))
        return found

    def iter_chat_keys(self) -> Iterator[ChatKeyRecord]:
        rows = ChatKey.objects.order_by("chat_id", "version")
        with _database_errors():
            for row in rows.iterator(chunk_size=1000):
                yield _chat_key_record(row)

    def revisions(
        self,
        chat_id: int,
        *,
        key_version: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 500,
    ) -> list[SealedRevision]:
        rows = MessageRevision.objects.filter(chat_id=chat_id)
        if key_version is not None:
            rows = rows.filter(key_version=key_version)
        if after is not None:
            message_id, edit_date = after
            rows = rows.filter(
                Q(message_id__gt=message_id) | Q(message_id=message_id, edit_date__gt=edit_date)
            )
        columns = ("message_id", "edit_date", "key_version", "envelope")
        with _database_errors():
            found = rows.order_by("message_id", "edit_date").values_list(*columns)[:limit]
            return [
                SealedRevision(chat_id, message_id, edit_date, version, bytes(envelope))
                for message_id, edit_date, version, envelope in found
            ]

    def count_revisions(self, chat_id: int | None = None) -> dict[tuple[int, int], int]:
        rows = MessageRevision.objects.all()
        if chat_id is not None:
            rows = rows.filter(chat_id=chat_id)
        counts = rows.values("chat_id", "key_version").annotate(n=Count("*")).order_by()
        with _database_errors():
            return {(r["chat_id"], r["key_version"]): r["n"] for r in counts}

    def ping(self) -> None:
        with _database_errors(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")


# Heads are read as plain values, not model instances: a page of 100 costs about half as much.
_STORED_FIELDS = tuple(f.name for f in fields(StoredMessage))


def _stored(values: dict[str, Any]) -> StoredMessage:
    return StoredMessage(**{**values, "envelope": bytes(values["envelope"])})


def _revisions(rows: Iterable[MessageRevision]) -> list[StoredRevision]:
    return [
        StoredRevision(version=number, edit_date=r.edit_date, envelope=bytes(r.envelope))
        for number, r in enumerate(rows, start=1)
    ]


def _chat_record(row: Chat) -> ChatRecord:
    return ChatRecord(
        chat_id=row.chat_id,
        type=row.type,
        first_date=row.first_date,
        last_date=row.last_date,
        message_count=row.message_count,
        sealed_title=bytes(row.sealed_title) if row.sealed_title is not None else None,
        migrated_to_chat_id=row.migrated_to_chat_id,
        migrated_from_chat_id=row.migrated_from_chat_id,
    )


def _chat_key_record(row: ChatKey) -> ChatKeyRecord:
    return ChatKeyRecord(
        chat_id=row.chat_id,
        version=row.version,
        wrapped=bytes(row.wrapped),
        kek_version=row.kek_version,
        state=row.state,
        created_at=row.created_at,
        changed_at=row.changed_at,
    )


def _chat_key_fields(record: ChatKeyRecord) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(ChatKeyRecord)}


def _fingerprint(records: Iterable[ChatKeyRecord]) -> set[tuple[Any, ...]]:
    return {(r.version, r.state, bytes(r.wrapped), r.kek_version) for r in records}
