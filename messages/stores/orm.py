"""ORMStore: the store contract on Django models (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import fields
from typing import Any

from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from crypto.chatkeys import OPENABLE, ChatKeyRecord
from groupie.schema import NotMigrated, migration_problem
from messages import sortkey
from messages.models import Chat, ChatKey, Message, MessageRevision, PendingLeaf, SearchToken
from messages.stores import orm_writes
from messages.stores.base import MessageStore
from messages.stores.orm_events import ORMChatEvents
from messages.stores.records import (
    ChatRecord,
    Compaction,
    DeleteResult,
    InactiveChatKey,
    IndexEntry,
    MessageHistory,
    MessageId,
    MessageQuery,
    Page,
    PutOutcome,
    RecordRefused,
    Reseal,
    SealedMessage,
    SealedRevision,
    StoredMessage,
    StoreError,
    merged_versions,
    versions_of,
)
from messages.stores.records import (
    PendingLeaf as PendingLeafRecord,
)
from messages.stores.sqlite_writer import uses_group_commit

_MESSAGE, _REVISION, _TOKEN = (m._meta.db_table for m in (Message, MessageRevision, SearchToken))
_PROBE_CHAT_ID = -(2**63)
# Re-sealing: raw statements, as the ORM's per-query overhead was most of the cost.
_RESEAL = """
    UPDATE {table} SET envelope = %s, key_version = %s
    WHERE chat_id = %s AND message_id = %s AND edit_date = %s AND envelope = %s
"""
_RESEAL_REVISION = _RESEAL.format(table=_REVISION)
# Building or re-keying the index: only beside a message still stored (a purge may have
# deleted it since it was read).
_ADD_TOKEN = f"""
    INSERT INTO {SearchToken._meta.db_table} (chat_id, token, message_id, key_version)
    SELECT %s, %s, %s, %s
    WHERE EXISTS (SELECT 1 FROM {_MESSAGE} WHERE chat_id = %s AND message_id = %s)
    ON CONFLICT DO NOTHING
"""  # noqa: S608
# PostgreSQL: a batch's entries in one statement, from arrays (a statement per entry took
# 181 s to index the search bench's 2.1 million entries).
_ADD_TOKENS_POSTGRESQL = f"""
    INSERT INTO {SearchToken._meta.db_table} (chat_id, token, message_id, key_version)
    SELECT %s, e.token, e.message_id, e.key_version
    FROM unnest(%s::bigint[], %s::bigint[], %s::integer[]) AS e(token, message_id, key_version)
    WHERE EXISTS (SELECT 1 FROM {_MESSAGE} m WHERE m.chat_id = %s AND m.message_id = e.message_id)
    ON CONFLICT DO NOTHING
"""  # noqa: S608
_RESEAL_HEAD = _RESEAL.format(table=_MESSAGE)


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except (DataError, OverflowError) as exc:
        # Out of range (SQLite's driver raises OverflowError beyond 64 bits), or a character
        # the database cannot hold (PostgreSQL: NUL in text).
        raise RecordRefused(f"database refused a value: {type(exc).__name__}") from exc
    except DatabaseError as exc:
        # The driver's message may quote parameters; only the class name leaves this module.
        raise _unavailable(f"database error: {type(exc).__name__}") from exc
    except StoreError as exc:
        # The SQLite writer's, raised in its own thread: say why, if the reason is known here.
        if isinstance(exc, DatabaseNotMigrated):
            raise
        raise _unavailable(str(exc)) from exc


class DatabaseNotMigrated(StoreError, NotMigrated):
    """The store failed because the database lacks migrations: a StoreError (503, retry
    later) whose message names the database and the command that fixes it."""


def _unavailable(said: str) -> StoreError:
    """StoreError saying ``said``, or DatabaseNotMigrated when that is why the database
    failed (a new DATABASE_URL no one migrated answers "no such table" to everything)."""
    problem = migration_problem()
    if problem is None:
        return StoreError(said)
    return DatabaseNotMigrated(problem.database, problem.count)


PURGE_BATCH = 500  # messages deleted per transaction by delete_messages_before
# A search term with at most this many index entries in the chats searched is "rare": the
# search starts from its entries instead of reading the heads newest first (see _matching).
RARE_TERM_ENTRIES = 2000


class ORMStore(ORMChatEvents, MessageStore):
    def _errors(self) -> AbstractContextManager[None]:
        return _database_errors()

    # -- writes -------------------------------------------------------------------------------

    def _put_message(
        self, message: SealedMessage, update_id: int | None, then: Callable[[], object] | None
    ) -> PutOutcome:
        outcome = orm_writes.put_message(message, update_id, then)
        if outcome is None:
            raise InactiveChatKey(
                f"chat {message.chat_id} key version {message.key_version} is no longer active"
            )
        return outcome

    def _link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        with transaction.atomic():
            Chat.objects.filter(chat_id=old_chat_id).update(migrated_to_chat_id=new_chat_id)
            Chat.objects.filter(chat_id=new_chat_id).update(migrated_from_chat_id=old_chat_id)

    def _add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        try:
            with transaction.atomic():
                ChatKey.objects.create(**_chat_key_fields(record))
            return record
        except IntegrityError:
            row = ChatKey.objects.get(chat_id=record.chat_id, version=record.version)
            return _chat_key_record(row)

    def _change_chat_keys(
        self, chat_id: int, expected: Sequence[ChatKeyRecord], changed: Sequence[ChatKeyRecord]
    ) -> bool:
        with transaction.atomic():
            rows = ChatKey.objects.select_for_update().filter(chat_id=chat_id)
            if _fingerprint(map(_chat_key_record, rows)) != _fingerprint(expected):
                return False
            for record in changed:
                values = _chat_key_fields(record)
                ChatKey.objects.update_or_create(
                    chat_id=values.pop("chat_id"), version=values.pop("version"), defaults=values
                )
            return True

    def _replace_envelopes(self, chat_id: int, reseals: Sequence[Reseal]) -> int:
        # A version's envelope is in its head or in a revision row; in both only in an archive
        # not yet compacted (then both hold the same envelope and both are replaced).
        changed = 0
        with transaction.atomic(), connection.cursor() as cursor:
            for r in reseals:
                row = (r.new, r.key_version, chat_id, r.message_id, r.edit_date, r.old)
                cursor.execute(_RESEAL_REVISION, row)
                in_row = cursor.rowcount
                cursor.execute(_RESEAL_HEAD, row)
                changed += bool(in_row or cursor.rowcount)
        return changed

    def _replace_chat_title(self, chat_id: int, old: bytes, new: bytes) -> bool:
        rows = Chat.objects.filter(chat_id=chat_id, sealed_title=old)
        return rows.update(sealed_title=new) == 1

    def _delete_chat(self, chat_id: int) -> DeleteResult:
        with transaction.atomic():
            superseded = _delete_revision_rows(MessageRevision.objects.filter(chat_id=chat_id))
            SearchToken.objects.filter(chat_id=chat_id).delete()
            messages, _ = Message.objects.filter(chat_id=chat_id).delete()
            chats, _ = Chat.objects.filter(chat_id=chat_id).delete()
        return DeleteResult(messages=messages, revisions=messages + superseded, chats=chats)

    def _delete_messages_before(self, chat_id: int, before: int) -> DeleteResult:
        result = DeleteResult()
        old = Message.objects.filter(chat_id=chat_id, date__lt=before)
        while True:
            with transaction.atomic():
                ids = list(old.values_list("message_id", flat=True)[:PURGE_BATCH])
                if not ids:
                    return result
                superseded = _delete_revision_rows(
                    MessageRevision.objects.filter(chat_id=chat_id, message_id__in=ids)
                )
                SearchToken.objects.filter(chat_id=chat_id, message_id__in=ids).delete()
                messages, _ = Message.objects.filter(chat_id=chat_id, message_id__in=ids).delete()
            result.messages += messages
            result.revisions += messages + superseded

    def _count_messages_before(self, chat_id: int, before: int) -> int:
        return Message.objects.filter(chat_id=chat_id, date__lt=before).count()

    # -- reads --------------------------------------------------------------------------------

    def _get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        heads = Message.objects.filter(chat_id=chat_id, message_id=message_id)
        row = heads.values(*_STORED_FIELDS).first()
        if row is None:
            return None
        head = _stored(row)
        rows = MessageRevision.objects.filter(chat_id=chat_id, message_id=message_id)
        superseded = rows.exclude(edit_date=head.edit_date).values_list("edit_date", "envelope")
        return MessageHistory(head=head, revisions=versions_of(head, superseded))

    def _get_messages(self, ids: set[MessageId]) -> dict[MessageId, StoredMessage]:
        by_chat: dict[int, list[int]] = {}
        for chat_id, message_id in ids:
            by_chat.setdefault(chat_id, []).append(message_id)
        condition = Q()
        for chat_id, message_ids in by_chat.items():
            condition |= Q(chat_id=chat_id, message_id__in=message_ids)
        rows = Message.objects.filter(condition).values(*_STORED_FIELDS)
        return {(r["chat_id"], r["message_id"]): _stored(r) for r in rows}

    def _query(self, query: MessageQuery) -> Page:
        rows = _filtered(_of_chats(query), query)
        if query.search:
            rows = _matching(rows, query)
        rows = rows.order_by("-sort_key" if query.descending else "sort_key")
        with _serially() if query.search else nullcontext():
            found = [_stored(r) for r in rows.values(*_STORED_FIELDS)[: query.limit + 1]]
        return Page(items=found[: query.limit], has_more=len(found) > query.limit)

    def _get_chat(self, chat_id: int) -> ChatRecord | None:
        row = _with_counts(Chat.objects.filter(chat_id=chat_id)).first()
        return _chat_record(row) if row else None

    def _list_chats(self) -> list[ChatRecord]:
        rows = _with_counts(Chat.objects.all()).order_by("-newest", "chat_id")
        return [_chat_record(r) for r in rows]

    def _get_chat_keys_many(self, chat_ids: set[int]) -> dict[int, list[ChatKeyRecord]]:
        found: dict[int, list[ChatKeyRecord]] = {}
        rows = ChatKey.objects.filter(chat_id__in=chat_ids).order_by("chat_id", "version")
        # Values, not model instances: a search reads every chat's keys, and this halves it.
        for values in rows.values(*_CHAT_KEY_FIELDS):
            record = ChatKeyRecord(**{**values, "wrapped": bytes(values["wrapped"])})
            found.setdefault(record.chat_id, []).append(record)
        return found

    def _newest_chat_keys(self, limit: int) -> list[ChatKeyRecord]:
        rows = ChatKey.objects.filter(state__in=OPENABLE).order_by("-created_at", "-version")
        return [_chat_key_record(row) for row in rows[:limit]]

    def _iter_chat_keys(self) -> Iterator[ChatKeyRecord]:
        rows = ChatKey.objects.order_by("chat_id", "version")
        for row in rows.iterator(chunk_size=1000):
            yield _chat_key_record(row)

    def _revisions(
        self,
        chat_id: int,
        key_version: int | None,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[SealedRevision]:
        # Two keyset reads, merged: the heads (each message's newest version) and the
        # superseded versions' rows, each a range of its natural key (chat_id, message_id[,
        # edit_date]) from the position on, the key version a filter beside it. (A head is
        # one per message: its order is message_id's, which the index gives without a sort.)
        def read(rows: QuerySet[Any], *order: str) -> list[SealedRevision]:
            rows = rows.filter(chat_id=chat_id)
            if key_version is not None:
                rows = rows.filter(key_version=key_version)
            if after is not None:
                message_id, edit_date = after
                rows = rows.filter(message_id__gte=message_id).filter(
                    Q(message_id__gt=message_id) | Q(edit_date__gt=edit_date)
                )
            columns = ("message_id", "edit_date", "key_version", "envelope")
            found = rows.order_by(*order).values_list(*columns)[:limit]
            return [
                SealedRevision(chat_id, message_id, edit_date, version, bytes(envelope))
                for message_id, edit_date, version, envelope in found
            ]

        heads = read(Message.objects.all(), "message_id")
        superseded = read(MessageRevision.objects.all(), "message_id", "edit_date")
        return merged_versions(heads, superseded, limit)

    def _count_revisions(self, chat_id: int | None) -> dict[tuple[int, int], int]:
        counts: dict[tuple[int, int], int] = {}
        for rows in (Message.objects.all(), _superseded(MessageRevision.objects.all())):
            if chat_id is not None:
                rows = rows.filter(chat_id=chat_id)
            by_key = rows.values("chat_id", "key_version").annotate(n=Count("*")).order_by()
            for r in by_key:
                key = (r["chat_id"], r["key_version"])
                counts[key] = counts.get(key, 0) + r["n"]
        return counts

    def _compact_envelopes(
        self, chat_id: int, after: int | None, limit: int, dry_run: bool
    ) -> Compaction:
        # The heads are locked (PostgreSQL) before their duplicates are deleted: an edit,
        # which locks its head too, either finishes first (its head then no longer matches)
        # or waits and finds no row for the version it supersedes (and writes one).
        rows = MessageRevision.objects.filter(chat_id=chat_id)
        if after is not None:
            rows = rows.filter(message_id__gt=after)
        with transaction.atomic():
            batch = list(
                rows.order_by("message_id", "edit_date").values_list(
                    "message_id", "edit_date", "envelope"
                )[:limit]
            )
            if not batch:
                return Compaction(scanned=0, removed=0, last=None)
            message_ids = sorted({message_id for message_id, _, _ in batch})
            heads = Message.objects.filter(chat_id=chat_id, message_id__in=message_ids)
            if connection.vendor == "postgresql":
                heads = heads.select_for_update()
            held = {
                (m, e): bytes(envelope)
                for m, e, envelope in heads.values_list("message_id", "edit_date", "envelope")
            }
            duplicates = [(m, e) for m, e, envelope in batch if held.get((m, e)) == bytes(envelope)]
            condition = Q(pk__in=[])
            for message_id, edit_date in duplicates:
                condition |= Q(message_id=message_id, edit_date=edit_date)
            removed = len(duplicates)
            if duplicates and not dry_run:
                removed, _ = MessageRevision.objects.filter(condition, chat_id=chat_id).delete()
        # The last message of a full batch may have more rows: it is read again next time.
        last = batch[-1][0] if len(batch) < limit else batch[-1][0] - 1
        if len(batch) == limit and last < batch[0][0]:
            last = batch[-1][0]  # one message with more rows than a batch: move on
        return Compaction(scanned=len(batch), removed=removed, last=last)

    def _add_search_tokens(self, chat_id: int, entries: Sequence[IndexEntry]) -> None:
        rows = [
            row
            for entry in entries
            for row in orm_writes.token_rows(
                chat_id, entry.message_id, entry.key_version, entry.tokens
            )
        ]
        if not rows:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                _, tokens, message_ids, versions = zip(*rows, strict=True)
                parameters = (chat_id, list(tokens), list(message_ids), list(versions), chat_id)
                cursor.execute(_ADD_TOKENS_POSTGRESQL, parameters)
            else:
                cursor.executemany(_ADD_TOKEN, [(*row, chat_id, row[2]) for row in rows])

    def _drop_search_tokens(self, chat_id: int, key_versions: Collection[int] | None) -> int:
        rows = SearchToken.objects.filter(chat_id=chat_id)
        if key_versions is not None:
            rows = rows.filter(key_version__in=key_versions)
        deleted, _ = rows.delete()
        return deleted

    def _count_search_tokens(self, chat_id: int) -> dict[int, int]:
        rows = SearchToken.objects.filter(chat_id=chat_id).values("key_version")
        counts = rows.annotate(n=Count("*")).order_by()
        return {r["key_version"]: r["n"] for r in counts}

    # -- the archive log's pending leaves ------------------------------------------------------

    def _add_pending_leaves(self, leaves: Sequence[PendingLeafRecord]) -> None:
        rows = [PendingLeaf(key=p.key, leaf=p.leaf, created=p.created) for p in leaves]
        PendingLeaf.objects.bulk_create(rows, ignore_conflicts=True)

    def _pending_leaves(self, limit: int) -> list[PendingLeafRecord]:
        rows = PendingLeaf.objects.order_by("created", "key")[:limit]
        return [PendingLeafRecord(r.key, bytes(r.leaf), r.created) for r in rows]

    def _drop_pending_leaves(self, keys: Collection[str]) -> None:
        PendingLeaf.objects.filter(key__in=list(keys)).delete()

    def _ping(self) -> None:
        # A write, rolled back: a database that answers but refuses writes is not ready.
        # The probe's chat id is one no Telegram chat has (ids stay within 2^53).
        with transaction.atomic():
            Chat.objects.create(
                chat_id=_PROBE_CHAT_ID, type="probe", first_date=0, last_date=0, message_count=0
            )
            transaction.set_rollback(True)

    def erase_deleted(self) -> bool:
        """Deleted rows can linger in SQLite's write-ahead log until a checkpoint: empty it.

        A reader elsewhere (a web worker mid-request) can keep the checkpoint from finishing;
        the caller says so. Other databases keep no such file of ours to empty."""
        if not uses_group_commit():
            return True
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = (cursor.fetchone() or (0,))[0]
        except DatabaseError:
            return False
        return not busy


# Heads are read as plain values, not model instances: a page of 100 costs about half as much.
_STORED_FIELDS = tuple(f.name for f in fields(StoredMessage))
_CHAT_KEY_FIELDS = tuple(f.name for f in fields(ChatKeyRecord))


def _stored(values: dict[str, Any]) -> StoredMessage:
    return StoredMessage(**{**values, "envelope": bytes(values["envelope"])})


def _superseded(rows: QuerySet[MessageRevision]) -> QuerySet[MessageRevision]:
    """The rows of superseded versions: without, in an archive not yet compacted, those at
    their head's position (the head holds that version)."""
    at_head = Message.objects.filter(
        chat_id=OuterRef("chat_id"),
        message_id=OuterRef("message_id"),
        edit_date=OuterRef("edit_date"),
    )
    return rows.exclude(Exists(at_head))


def _delete_revision_rows(rows: QuerySet[MessageRevision]) -> int:
    """Deletes ``rows``; returns how many were superseded versions (not duplicates of a head,
    in an archive not yet compacted)."""
    superseded = _superseded(rows).count()
    rows.delete()
    return superseded


@contextmanager
def _serially() -> Iterator[None]:
    """PostgreSQL without parallel workers for one query. For a search's page it planned a
    parallel scan whose workers took 6-8 ms to start, for 1.4 ms of work (bench-search)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def _of_chats(query: MessageQuery) -> QuerySet[Message]:
    """The heads of the query's chats (all when it names none)."""
    rows = Message.objects.all()
    if len(query.chats) == 1:
        return rows.filter(chat_id=query.chats[0])
    if query.chats and query.search:
        # A search over several chats reads the heads newest first over all of them, keeping
        # the chats asked for (``chat_id + 0`` is no index's column): with an index lookup
        # per chat instead, the database gathers and sorts every head of every chat before
        # the first EXISTS, where this stops at a page (bench-search: 200,000 heads).
        return rows.filter(_one_of(f"{_MESSAGE}.chat_id + 0", list(query.chats)))
    if query.chats:
        return rows.filter(chat_id__in=query.chats)
    return rows


def _filtered(rows: QuerySet[Message], query: MessageQuery) -> QuerySet[Message]:
    """``rows`` within the query's filters and after its position."""
    if query.user is not None:
        rows = rows.filter(sender_id=query.user)
    if query.thread is not None:
        rows = rows.filter(thread_id=query.thread)
    if query.kind is not None:
        rows = rows.filter(kind=query.kind)
    if query.edited is not None:
        rows = rows.filter(version_count__gt=1) if query.edited else rows.filter(version_count=1)
    if query.since is not None:
        rows = rows.filter(sort_key__gte=sortkey.lowest_at(query.since))
    if query.until is not None:
        rows = rows.filter(sort_key__lte=sortkey.highest_at(query.until))
    if query.after is not None:
        after = "sort_key__lt" if query.descending else "sort_key__gt"
        rows = rows.filter(**{after: query.after})
    return rows


def _matching(rows: QuerySet[Message], query: MessageQuery) -> QuerySet[Message]:
    """``rows`` narrowed to the messages whose index entries hold, for each search term, one
    of its tokens (a chat's, under one of its key versions).

    Each term is tested on each head's entries, so the database reads the heads newest first
    and stops when the page is full: quick when the terms are common. For a rare term that
    would read every head, so the terms' entries are counted first, each up to
    RARE_TERM_ENTRIES + 1; when the fewest are at most that, the search starts from that
    term's entries: at most that many heads are read, however large the archive."""
    wanted = set(query.chats)
    terms = []  # per term: chat -> its tokens (a chat's own, under each of its key versions)
    for alternatives in query.search:
        by_chat: dict[int, list[int]] = {}
        for chat_id, _, token in alternatives:
            if not wanted or chat_id in wanted:
                by_chat.setdefault(chat_id, []).append(orm_writes.token_value(token))
        if not by_chat:
            return rows.none()
        terms.append(by_chat)
    counts = _entry_counts(terms)
    fewest = min(range(len(terms)), key=counts.__getitem__)
    driving = None
    if counts[fewest] == 0:
        return rows.none()
    if counts[fewest] <= RARE_TERM_ENTRIES:
        where, parameters = _entries_of(terms[fewest])
        messages = RawSQL(f"SELECT message_id FROM {_TOKEN} WHERE ({where})", parameters)  # noqa: S608,S611
        rows = rows.filter(message_id__in=messages)
        # In one chat that is the term's whole test; over several, message ids repeat
        # between chats, so its EXISTS below still applies.
        driving = terms[fewest] if len(terms[fewest]) == 1 else None
    for number, by_chat in enumerate(terms):
        if by_chat is driving:
            continue
        tokens = sorted({token for values in by_chat.values() for token in values})
        # Read on (chat_id, message_id, token): the head's dozen entries. Where to start is
        # decided by the counts above, not by the database: ``token + 0`` is no index's
        # column, and a LIMIT 1 subquery, unlike EXISTS, is not turned into a join. (Given
        # EXISTS, PostgreSQL started from a term's entries it guessed at 401 where there
        # were 3,274, or from the whole chat's: 22 to 60 ms, where reading the heads newest
        # first takes 1.4.)
        entries = SearchToken.objects.filter(
            _one_of("token + 0", tokens),
            chat_id=OuterRef("chat_id"),
            message_id=OuterRef("message_id"),
        ).values("message_id")[:1]
        term = f"term_{number}"
        rows = rows.alias(**{term: Subquery(entries)}).filter(**{f"{term}__isnull": False})
    return rows


def _entries_of(by_chat: dict[int, list[int]]) -> tuple[str, list[Any]]:
    """A WHERE clause for one term's entries, (chat, token) pairs, and its parameters."""
    pairs = [(chat_id, token) for chat_id, tokens in by_chat.items() for token in tokens]
    if connection.vendor == "postgresql":
        # Two arrays: two parameters however many chats (psycopg parses a long statement
        # with a thousand placeholders afresh each time, at 2 ms a time).
        chats, tokens = (list(column) for column in zip(*pairs, strict=True))
        where = "(chat_id, token) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))"
        return where, [chats, tokens]
    # SQLite: a key lookup per chat (it scans the table for a row-value IN over VALUES).
    where = " OR ".join(
        f"(chat_id = %s AND token IN ({', '.join(['%s'] * len(tokens))}))"
        for tokens in by_chat.values()
    )
    return where, [value for chat_id, tokens in by_chat.items() for value in (chat_id, *tokens)]


def _one_of(column: str, values: list[int]) -> ExpressionWrapper:
    """``column`` (SQL of our own) is one of ``values``: one array parameter on PostgreSQL,
    a parameter each elsewhere."""
    parameters: list[Any]
    if connection.vendor == "postgresql":
        sql, parameters = f"{column} = ANY(%s::bigint[])", [values]
    else:
        sql, parameters = f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)
    return ExpressionWrapper(RawSQL(sql, parameters), output_field=BooleanField())  # noqa: S611


def _entry_counts(terms: list[dict[int, list[int]]]) -> list[int]:
    """How many index entries each term has, counted up to RARE_TERM_ENTRIES + 1 only: one
    statement of bounded probes on the (chat_id, token) key. Raw SQL: a search over many
    chats names a token per chat, and the ORM took longer to build that than to run it."""
    probes, parameters = [], []
    for by_chat in terms:
        where, values = _entries_of(by_chat)
        probes.append(
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM {_TOKEN} WHERE ({where}) LIMIT %s) AS probe)"  # noqa: S608
        )
        parameters += [*values, RARE_TERM_ENTRIES + 1]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(probes)}", parameters)
        return [int(count) for count in cursor.fetchone()]


def _with_counts(chats: QuerySet[Chat]) -> QuerySet[Chat]:
    """Each chat with its number of messages and its first and last dates, read on the
    (chat_id, sort_key) index of the heads (a sort key starts with the date): nothing per
    message is written to the chat's own row, whose dates are refreshed about once a minute
    per process only (what they hold stands in for a chat without heads)."""
    heads = Message.objects.filter(chat_id=OuterRef("chat_id")).order_by()
    count = heads.values("chat_id").annotate(n=Count("*")).values("n")
    oldest = heads.order_by("sort_key").values("date")[:1]
    newest = heads.order_by("-sort_key").values("date")[:1]
    return chats.annotate(
        messages=Coalesce(Subquery(count), 0),
        oldest=Coalesce(Subquery(oldest), "first_date"),
        newest=Coalesce(Subquery(newest), "last_date"),
    )


def _chat_record(row: Chat) -> ChatRecord:
    return ChatRecord(
        chat_id=row.chat_id,
        type=row.type,
        first_date=row.oldest,  # type: ignore[attr-defined]  # from _with_counts
        last_date=row.newest,  # type: ignore[attr-defined]
        message_count=row.messages,  # type: ignore[attr-defined]
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
