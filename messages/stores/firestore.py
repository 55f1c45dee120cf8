"""FirestoreStore: the store contract on Google Cloud Firestore.

Documents (all top-level collections, so no collection-group queries are needed):

- ``chats/{chat_id}``: type, sealed_title, first_date, last_date, message_count, migration links;
- ``messages/{chat_id}:{message_id}``: the head (index fields, key_version, envelope,
  version_count, sort_key): the newest version, and, in an indexed chat, ``search_tokens``: the
  blind tokens of every revision's terms, each prefixed with its chat-key version (4 bytes), in
  one array;
- ``revisions/{chat_id}:{message_id}:{edit_date}``: one per superseded version (key_version,
  envelope): each version's envelope is stored once, the newest in the head;
- ``chat_keys/{chat_id}:{version}``: wrapped chat keys, with their state;
- the archive log's pending leaves: a message version's rides in its head, as
  ``log_pending`` (leaf key -> leaf and created) with ``log_pending_since`` (the oldest's
  created, what the sequencer orders by); every other leaf (chat events, re-sealed records,
  ``build_log``'s backfill) is a document of ``pending_leaves/{key}``;
- ``chat_events/{chat_id}:{sort_key}``: reactions and membership events (``firestore_events``);
- ``readiness/{host}:{pid}``: a timestamp each readiness probe writes (proof of write access).

A new message (the common case) is one batched commit that creates its head, its log leaf
inside it: one document written, no transaction and no read. ``create`` makes a replay,
or an original arriving after its edit, fail the commit with AlreadyExists, and the full path
(a transaction: one batched read of revision, head and key, then the writes) handles those and
edits: an edit newer than the head moves the head's version into a revision document and takes
its place; one older (delivered late) becomes a revision document. The chat's document is read
and written only when the archive service says its entry changed (a new chat, type, title or
key version, or a minute since this process last wrote it), never per message, and counts are
``count()`` aggregations: no document the whole chat shares is written per message.

Key state is leased, not read per message. A process writes a message by batch only while it
read the message's chat-key version as active in a transaction at most ``key_lease`` seconds
ago, and that commit gives up after ``write_timeout``; otherwise the message takes a
transaction that reads the key (and renews the lease). So a record sealed with a version can
land up to ``late_write_window`` (``key_lease + write_timeout``) after the version stopped
being active; rotation's retirement and shredding wait that long before they count or delete
(``messages.keys.operations``). The store holds one in-memory lease per (chat, version) and
process; a busy chat costs one transaction per ``key_lease``, the rest are single commits. A
rotation or shred is a transaction (``change_chat_keys``, a compare-and-set on the chat's key
documents), so Firestore serializes it with the full path's puts, which read those documents.
Re-sealing and title replacement are compare-and-set transactions too.

Pages are the one range filter on ``sort_key`` beside equality filters, ordered by
``sort_key``. A search is one query per chat: ``array-contains-any`` of its first term's
tokens (one per key version) on ``search_tokens``, the sort_key range and order; the other
terms and filters are checked on the heads it returns (Firestore takes one array filter per
query, and each equality filter more would need indexes of its own). Revisions and chat keys
are walked by keyset on two fields, as two queries (Firestore cursors are not used). The
composite indexes all this needs are in firestore.indexes.json. Nothing here sees plaintext.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as google_errors

from crypto.cache import TTLCache
from crypto.chatkeys import ACTIVE, OPENABLE, ChatKeyRecord
from crypto.envelope import key_version_of
from messages import sortkey
from messages.models import ReceivedUpdate
from messages.stores.base import MessageStore
from messages.stores.firestore_events import FirestoreChatEvents
from messages.stores.records import (
    HEAD_FIELDS,
    ChatRecord,
    Compaction,
    DeleteResult,
    InactiveChatKey,
    IndexEntry,
    MessageHistory,
    MessageId,
    MessageQuery,
    Page,
    PendingLeaf,
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
from messages.stores.sqlite_writer import in_own_transaction

QUERY_BOUND_FACTOR = 24  # a query's stream may take 24 times a single call's bound (2 min)
IN_LIMIT = 30  # Firestore's limit on the values of one "in" filter
BATCH_LIMIT = 500  # and on the writes of one batch or transaction
RESEAL_LIMIT = 200  # reseals per transaction: two writes each (revision and head)
KEY_PAGE = 1000  # chat keys read per query by iter_chat_keys
KEY_SAMPLE_PAGE, NEWEST_KEY_PAGES = 50, 20  # newest_chat_keys reads at most 1,000 keys
SEARCH_THREADS = 16  # chats searched at once (a search is one query per chat)
LEASES_KEPT = 20_000  # (chat, version) leases held per process, as many as chat keys cached
_STORED_FIELDS = tuple(f.name for f in fields(StoredMessage))
_VERSION_PREFIX = struct.Struct(">I")


@contextmanager
def _firestore_errors() -> Iterator[None]:
    try:
        yield
    except google_errors.InvalidArgument as exc:
        # A value Firestore cannot hold (e.g. an integer beyond 2^63 - 1).
        raise RecordRefused(f"Firestore refused a value: {type(exc).__name__}") from exc
    except (google_errors.GoogleAPICallError, google_errors.RetryError) as exc:
        # RetryError: still failing when the call's time bound ran out (Firestore unreachable).
        raise StoreError(f"Firestore error: {type(exc).__name__}") from exc
    except ValueError as exc:
        # A transaction still contended after its attempts: the client wraps the last Aborted.
        if isinstance(exc.__cause__, google_errors.GoogleAPICallError):
            raise StoreError(f"Firestore error: {type(exc.__cause__).__name__}") from exc
        raise


class FirestoreStore(FirestoreChatEvents, MessageStore):
    def __init__(
        self,
        *,
        project: str = "",
        database: str = "(default)",
        timeout: float = 5.0,
        key_lease: float = 10.0,
        write_timeout: float = 5.0,
    ) -> None:
        from google.api_core.retry import Retry
        from google.cloud import firestore

        self._firestore = firestore
        # FIRESTORE_EMULATOR_HOST, when set, is honoured by the client itself.
        self.client = firestore.Client(project=project or None, database=database or None)
        _bound_every_call(self.client, timeout)
        self.chats = self.client.collection("chats")
        self.messages = self.client.collection("messages")
        # Not ``revisions``: that is the contract's method.
        self.revision_docs = self.client.collection("revisions")
        self.chat_keys = self.client.collection("chat_keys")
        self.leaf_docs = self.client.collection("pending_leaves")
        # Every collection the store writes (Firestore clients cannot always list them).
        self.collections = (
            self.chats,
            self.messages,
            self.revision_docs,
            self.chat_keys,
            self.leaf_docs,
            self.event_docs,
        )
        # (chat, version) -> when this process began the transaction that read it active.
        self.key_lease, self.write_timeout = key_lease, write_timeout
        self._leases: TTLCache[float] = TTLCache(key_lease, LEASES_KEPT)
        self._write_retry = Retry(timeout=write_timeout)

    @property
    def late_write_window(self) -> float:
        return self.key_lease + self.write_timeout

    def _errors(self) -> AbstractContextManager[None]:
        return _firestore_errors()

    def _run(self, function: Any, *args: Any) -> Any:
        """Runs ``function(transaction, *args)`` as one transaction, retried on contention.

        An exception it raises rolls the transaction back (nothing is written) and propagates."""
        return self._firestore.transactional(function)(self.client.transaction(), *args)

    # -- writes -------------------------------------------------------------------------------

    def _put_message(
        self, message: SealedMessage, update_id: int | None, then: Callable[[], object] | None
    ) -> PutOutcome:
        outcome = self._put_record(message)
        then = ReceivedUpdate.noting(update_id, then)
        if then is not None:
            in_own_transaction(then)  # Django's database, not Firestore's
        return outcome

    def _put_record(self, message: SealedMessage) -> PutOutcome:
        if message.edit_date == 0 and not message.chat.changed and self._leased(message):
            try:
                return self._create_original(message)
            except google_errors.AlreadyExists:
                pass  # a replay, or its edit came first: the full path tells which
        elif message.edit_date == 0:
            try:
                return self._transaction(self._put_original, message)
            except _FullPath:
                pass  # the key is no longer active: a replay is still a DUPLICATE
            except google_errors.GoogleAPICallError as exc:
                if not _already_exists(exc):
                    raise
                # A replay, or its edit came first. (The client rolls back after a failed
                # commit; should that fail too, AlreadyExists is what its error arose from.)
        return self._transaction(self._put, message)

    def _leased(self, message: SealedMessage) -> bool:
        began = self._leases.get((message.chat_id, message.key_version))
        return began is not None and time.monotonic() - began < self.key_lease

    def _create_original(self, message: SealedMessage) -> PutOutcome:
        """The common case: one commit, no read, one message document. The head is created
        first: when this commit fails it fails on its first write (the emulator, unlike
        Firestore, applies a commit's writes up to the one that fails)."""
        _, head_ref, _, _ = self._refs(message)
        batch = self.client.batch()
        batch.create(head_ref, _new_head(message))
        batch.commit(retry=self._write_retry, timeout=self.write_timeout)
        return PutOutcome.CREATED

    def _transaction(self, put: Any, message: SealedMessage) -> PutOutcome:
        """A put as a transaction that reads the message's key; renews this process's lease on
        that key when the key was active."""
        began = time.monotonic()
        outcome: PutOutcome = self._run(put, message)
        if outcome is not PutOutcome.DUPLICATE:
            self._leases.set((message.chat_id, message.key_version), began)
        return outcome

    def _refs(self, message: SealedMessage) -> tuple[Any, Any, Any, Any]:
        """The revision, head, chat and chat-key documents a put touches."""
        chat_id, message_id = message.chat_id, message.message_id
        return (
            self.revision_docs.document(f"{chat_id}:{message_id}:{message.edit_date}"),
            self.messages.document(f"{chat_id}:{message_id}"),
            self.chats.document(str(chat_id)),
            self.chat_keys.document(f"{chat_id}:{message.key_version}"),
        )

    def _read(self, transaction: Any, refs: list[Any]) -> list[Any]:
        """The snapshots of ``refs``, in order, in one round trip."""
        found = {s.reference.path: s for s in transaction.get_all(refs)}
        return [found[ref.path] for ref in refs]

    def _put_original(self, transaction: Any, message: SealedMessage) -> PutOutcome:
        """A new message without a lease on its key, or one that changes the chat's entry: it
        reads only its chat-key document (and the chat's, when that changes) and creates the
        head. ``create`` fails the commit with AlreadyExists if it exists, so a replay, or an
        original arriving after its edit, never overwrites anything: the caller then takes
        the full path."""
        _, head_ref, chat_ref, key_ref = self._refs(message)
        changed = message.chat.changed
        key, *chat = self._read(transaction, [key_ref, chat_ref] if changed else [key_ref])
        if not _is_active(key):
            raise _FullPath  # a replay is still a DUPLICATE: only the full path can tell
        transaction.create(head_ref, _new_head(message))
        if changed:
            self._touch_chat(transaction, chat_ref, chat[0], message)
        return PutOutcome.CREATED

    def _put(self, transaction: Any, message: SealedMessage) -> PutOutcome:
        revision_ref, head_ref, chat_ref, key_ref = self._refs(message)
        changed = message.chat.changed
        refs = [revision_ref, head_ref, key_ref, *([chat_ref] if changed else [])]
        revision, head, key, *chat = self._read(transaction, refs)
        current: Any = head.to_dict() if head.exists else None
        if revision.exists or (current is not None and current["edit_date"] == message.edit_date):
            return PutOutcome.DUPLICATE
        self._require_active(key, message)
        if current is not None:
            changes: dict[str, Any] = {
                "version_count": current["version_count"] + 1,
                "edited": True,
                **_leaf_changes(current, message),
            }
            if message.edit_date > current["edit_date"]:
                # The head's version is superseded: it moves to a revision document (``set``:
                # in an archive not yet compacted one may hold it already).
                superseded = self.revision_docs.document(
                    f"{message.chat_id}:{message.message_id}:{current['edit_date']}"
                )
                transaction.set(superseded, _superseded_fields(current))
                changes.update({name: getattr(message, name) for name in HEAD_FIELDS})
            else:
                transaction.create(revision_ref, _revision_fields(message))
            if message.search_tokens:
                # The union with what earlier versions added (the head was read above).
                held = _tokens_of(current)
                elements = held | set(_elements(message.key_version, message.search_tokens))
                changes["search_tokens"] = sorted(elements)
            transaction.update(head_ref, changes)
        else:
            transaction.set(head_ref, _new_head(message))
        if changed:
            self._touch_chat(transaction, chat_ref, chat[0], message)
        return PutOutcome.REVISED if head.exists else PutOutcome.CREATED

    @staticmethod
    def _require_active(key: Any, message: SealedMessage) -> None:
        if not _is_active(key):
            # Raised inside the transaction: it is rolled back and nothing is written.
            raise InactiveChatKey(
                f"chat {message.chat_id} key version {message.key_version} is no longer active"
            )

    def _touch_chat(
        self, transaction: Any, ref: Any, snapshot: Any, message: SealedMessage
    ) -> None:
        title = message.chat.sealed_title
        if not snapshot.exists:
            transaction.set(
                ref,
                {
                    "chat_id": message.chat_id,
                    "type": message.chat.type,
                    "sealed_title": title,
                    "first_date": message.date,
                    "last_date": message.date,
                    "migrated_to_chat_id": None,
                    "migrated_from_chat_id": None,
                },
            )
            return
        chat: Any = snapshot.to_dict()
        changes: dict[str, Any] = {
            "type": message.chat.type,
            "first_date": min(chat["first_date"], message.date),
            "last_date": max(chat["last_date"], message.date),
        }
        if title is not None and message.date >= chat["last_date"]:
            changes["sealed_title"] = title
        transaction.update(ref, changes)

    def _link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        for chat_id, field, value in (
            (old_chat_id, "migrated_to_chat_id", new_chat_id),
            (new_chat_id, "migrated_from_chat_id", old_chat_id),
        ):
            ref = self.chats.document(str(chat_id))
            if ref.get().exists:
                ref.update({field: value})

    def _add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        ref = self._chat_key_ref(record)
        try:
            ref.create(_chat_key_fields(record))
        except google_errors.AlreadyExists:
            return _chat_key(ref.get().to_dict())
        return record

    def _change_chat_keys(
        self, chat_id: int, expected: Sequence[ChatKeyRecord], changed: Sequence[ChatKeyRecord]
    ) -> bool:
        def compare_and_set(transaction: Any) -> bool:
            # Read with the transaction: a put that checks one of these keys, or another
            # change, is serialized with this one.
            query = self._where(self.chat_keys, "chat_id", "==", chat_id)
            current = [_chat_key(s.to_dict()) for s in transaction.get(query)]
            if _fingerprint(current) != _fingerprint(expected):
                return False
            for record in changed:
                transaction.set(self._chat_key_ref(record), _chat_key_fields(record))
            return True

        done: bool = self._run(compare_and_set)
        return done

    def _chat_key_ref(self, record: ChatKeyRecord) -> Any:
        return self.chat_keys.document(f"{record.chat_id}:{record.version}")

    def _replace_envelopes(self, chat_id: int, reseals: Sequence[Reseal]) -> int:
        changed = 0
        for start in range(0, len(reseals), RESEAL_LIMIT):
            done: int = self._run(self._reseal, chat_id, reseals[start : start + RESEAL_LIMIT])
            changed += done
        return changed

    def _reseal(self, transaction: Any, chat_id: int, reseals: Sequence[Reseal]) -> int:
        revision_refs = [
            self.revision_docs.document(f"{chat_id}:{r.message_id}:{r.edit_date}") for r in reseals
        ]
        head_refs = [self.messages.document(f"{chat_id}:{r.message_id}") for r in reseals]
        unique = {ref.path: ref for ref in (*revision_refs, *head_refs)}
        # What each document holds, as the reseals before it in this batch leave it.
        held: dict[str, dict[str, Any] | None] = {
            s.reference.path: s.to_dict() if s.exists else None
            for s in transaction.get_all(list(unique.values()))
        }
        # A version's envelope is in its head or in a revision document (in both only in an
        # archive not yet compacted: both hold the same envelope and both are replaced).
        changed = 0
        for reseal, revision_ref, head_ref in zip(reseals, revision_refs, head_refs, strict=True):
            update = {"envelope": reseal.new, "key_version": reseal.key_version}
            revision = held[revision_ref.path]
            found = False
            if revision is not None and bytes(revision["envelope"]) == reseal.old:
                transaction.update(revision_ref, update)
                revision.update(update)
                found = True
            head = held[head_ref.path]
            if (
                head is not None
                and head["edit_date"] == reseal.edit_date
                and bytes(head["envelope"]) == reseal.old
            ):
                transaction.update(head_ref, update)
                head.update(update)
                found = True
            changed += found
        return changed

    def _replace_chat_title(self, chat_id: int, old: bytes, new: bytes) -> bool:
        ref = self.chats.document(str(chat_id))

        def compare_and_set(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            title = (snapshot.to_dict() or {}).get("sealed_title") if snapshot.exists else None
            if title is None or bytes(title) != old:
                return False
            transaction.update(ref, {"sealed_title": new})
            return True

        done: bool = self._run(compare_and_set)
        return done

    def _delete_chat(self, chat_id: int) -> DeleteResult:
        # Revisions counts every version: each head's and each superseded one's (in an
        # archive not yet compacted, a head's duplicate record is counted as well).
        messages = self._delete_where(self.messages, chat_id)
        superseded = self._delete_where(self.revision_docs, chat_id)
        result = DeleteResult(messages=messages, revisions=messages + superseded)
        chat = self.chats.document(str(chat_id))
        if chat.get().exists:
            chat.delete()
            result.chats = 1
        return result

    def _delete_where(self, collection: Any, chat_id: int) -> int:
        deleted = 0
        while True:
            page = list(
                self._where(collection, "chat_id", "==", chat_id).limit(BATCH_LIMIT).stream()
            )
            if not page:
                return deleted
            self._keep_pending_leaves(page)
            batch = self.client.batch()
            for snapshot in page:
                batch.delete(snapshot.reference)
            batch.commit()
            deleted += len(page)

    def _delete_messages_before(self, chat_id: int, before: int) -> DeleteResult:
        result = DeleteResult()
        while True:
            heads = self._where(
                self._where(self.messages, "chat_id", "==", chat_id), "date", "<", before
            )
            page = list(heads.limit(IN_LIMIT).stream())
            if not page:
                return result
            ids = [snapshot.get("message_id") for snapshot in page]
            revisions = list(
                self._where(
                    self._where(self.revision_docs, "chat_id", "==", chat_id),
                    "message_id",
                    "in",
                    ids,
                ).stream()
            )
            self._keep_pending_leaves(page)
            # Revisions first, then heads, in one batch: all or nothing.
            batch = self.client.batch()
            for snapshot in [*revisions, *page]:
                batch.delete(snapshot.reference)
            batch.commit()
            at_head = {(s.get("message_id"), s.get("edit_date")) for s in page}
            superseded = [
                s for s in revisions if (s.get("message_id"), s.get("edit_date")) not in at_head
            ]
            result.messages += len(page)
            result.revisions += len(page) + len(superseded)

    def _keep_pending_leaves(self, heads: list[Any]) -> None:
        """Before heads are deleted: the log leaves they still carry become documents of
        ``pending_leaves``, so the records reach the log before their tombstone. Should the
        deletion then fail, a leaf is pending twice; the sequencer takes it once."""
        kept = [
            pending
            for snapshot in heads
            for pending in _pending_in_head((snapshot.to_dict() or {}).get("log_pending") or {})
        ]
        if kept:
            self._add_pending_leaves(kept)

    def _count_messages_before(self, chat_id: int, before: int) -> int:
        query = self._where(
            self._where(self.messages, "chat_id", "==", chat_id), "date", "<", before
        )
        [[aggregate]] = query.count().get()
        return int(aggregate.value)

    # -- reads --------------------------------------------------------------------------------

    def _where(self, query: Any, field: str, op: str, value: Any) -> Any:
        from google.cloud.firestore_v1.base_query import FieldFilter

        return query.where(filter=FieldFilter(field, op, value))

    def _keyset(
        self,
        query: Any,
        order: tuple[str, str],
        after: tuple[Any, Any] | None,
        limit: int,
    ) -> list[Any]:
        """Up to ``limit`` documents of ``query`` in ``order``, after the ``after``
        position. As two queries, (first == a, second > b) then (first > a), rather than a
        cursor: each takes the index on (equality fields, first, second)."""
        first, second = order
        if after is None:
            return list(query.order_by(first).order_by(second).limit(limit).stream())
        a, b = after
        same = self._where(self._where(query, first, "==", a), second, ">", b)
        found = list(same.order_by(second).limit(limit).stream())
        if len(found) < limit:
            later = self._where(query, first, ">", a).order_by(first).order_by(second)
            found += later.limit(limit - len(found)).stream()
        return found

    def _get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        snapshot = self.messages.document(f"{chat_id}:{message_id}").get()
        if not snapshot.exists:
            return None
        head = _stored(snapshot.to_dict())
        superseded = [
            (data["edit_date"], bytes(data["envelope"]))
            for data in (
                s.to_dict()
                for s in self._where(
                    self._where(self.revision_docs, "chat_id", "==", chat_id),
                    "message_id",
                    "==",
                    message_id,
                ).stream()
            )
        ]
        return MessageHistory(head=head, revisions=versions_of(head, superseded))

    def _get_messages(self, ids: set[MessageId]) -> dict[MessageId, StoredMessage]:
        refs = [self.messages.document(f"{c}:{m}") for c, m in ids]
        found: list[Any] = [s.to_dict() for s in self.client.get_all(refs) if s.exists]
        return {(d["chat_id"], d["message_id"]): _stored(d) for d in found}

    def _query(self, query: MessageQuery) -> Page:
        if query.search:
            return self._search(query)
        chats = list(query.chats)
        groups = [chats[i : i + IN_LIMIT] for i in range(0, len(chats), IN_LIMIT)] or [[]]
        streams = [list(self._page_query(query, group).stream()) for group in groups]
        # More chats than one "in" filter takes: merge the per-group pages in sort_key order.
        rows = heapq.merge(
            *[[s.to_dict() for s in stream] for stream in streams],
            key=lambda d: d["sort_key"],
            reverse=query.descending,
        )
        found = [_stored(d) for _, d in zip(range(query.limit + 1), rows, strict=False)]
        return Page(items=found[: query.limit], has_more=len(found) > query.limit)

    def _page_query(self, query: MessageQuery, chats: list[int]) -> Any:
        q: Any = self.messages
        if len(chats) == 1:
            q = self._where(q, "chat_id", "==", chats[0])
        elif chats:
            q = self._where(q, "chat_id", "in", chats)
        for field, value in (
            ("sender_id", query.user),
            ("thread_id", query.thread),
            ("kind", query.kind),
        ):
            if value is not None:
                q = self._where(q, field, "==", value)
        if query.edited is not None:
            q = self._where(q, "edited", "==", query.edited)
        return self._sort_key_range(q, query).limit(query.limit + 1)

    def _sort_key_range(self, q: Any, query: MessageQuery) -> Any:
        """``q`` within the query's dates and after its position, in its order. Every bound
        is on sort_key: Firestore allows range filters on one field only."""
        if query.since is not None:
            q = self._where(q, "sort_key", ">=", sortkey.lowest_at(query.since))
        if query.until is not None:
            q = self._where(q, "sort_key", "<=", sortkey.highest_at(query.until))
        if query.after is not None:
            q = self._where(q, "sort_key", "<" if query.descending else ">", query.after)
        firestore = self._firestore
        direction = firestore.Query.DESCENDING if query.descending else firestore.Query.ASCENDING
        return q.order_by("sort_key", direction=direction)

    def _get_chat(self, chat_id: int) -> ChatRecord | None:
        snapshot = self.chats.document(str(chat_id)).get()
        return self._chat(snapshot.to_dict()) if snapshot.exists else None

    def _list_chats(self) -> list[ChatRecord]:
        # Read the whole (small) stream first: a stream is one call, bounded in time as a whole.
        documents = [s.to_dict() for s in self.chats.stream()]
        chats = [self._chat(data) for data in documents]
        return sorted(chats, key=lambda c: (-c.last_date, c.chat_id))

    def _chat(self, data: Any) -> ChatRecord:
        # A count() aggregation of the chat's heads, and its first and last heads by sort key
        # (which starts with the date): nothing is written to the chat's document per message.
        heads = self._where(self.messages, "chat_id", "==", data["chat_id"])
        [[result]] = heads.count().get()
        dates = {}
        for name, direction in (
            ("first_date", self._firestore.Query.ASCENDING),
            ("last_date", self._firestore.Query.DESCENDING),
        ):
            ends = list(heads.order_by("sort_key", direction=direction).limit(1).stream())
            if ends:
                dates[name] = ends[0].get("date")
        return _chat({**data, **dates}, message_count=int(result.value))

    def _get_chat_keys_many(self, chat_ids: set[int]) -> dict[int, list[ChatKeyRecord]]:
        chats = sorted(chat_ids)
        keys: list[ChatKeyRecord] = []
        for start in range(0, len(chats), IN_LIMIT):
            group = chats[start : start + IN_LIMIT]
            if len(group) == 1:
                q = self._where(self.chat_keys, "chat_id", "==", group[0])
            else:
                q = self._where(self.chat_keys, "chat_id", "in", group)
            keys += (_chat_key(s.to_dict()) for s in q.stream())
        found: dict[int, list[ChatKeyRecord]] = {}
        for key in sorted(keys, key=lambda k: (k.chat_id, k.version)):
            found.setdefault(key.chat_id, []).append(key)
        return found

    def _newest_chat_keys(self, limit: int) -> list[ChatKeyRecord]:
        # Ordered on one field (its automatic index); the states are filtered here, page by
        # page (a keyset on created_at: the emulator ignores cursors), so a run of shredded
        # or retired chats among the newest does not leave the sample empty.
        descending = self._firestore.Query.DESCENDING
        found: list[ChatKeyRecord] = []
        before: Any = None
        for _ in range(NEWEST_KEY_PAGES):
            page_query: Any = self.chat_keys
            if before is not None:
                page_query = self._where(page_query, "created_at", "<", before)
            page_query = page_query.order_by("created_at", direction=descending)
            page = [_chat_key(s.to_dict()) for s in page_query.limit(KEY_SAMPLE_PAGE).stream()]
            found += [k for k in page if k.state in OPENABLE]
            if len(found) >= limit or len(page) < KEY_SAMPLE_PAGE:
                break
            before = page[-1].created_at
        return found[:limit]

    def _iter_chat_keys(self) -> Iterator[ChatKeyRecord]:
        # In pages, not one stream held open while the caller works on each key.
        after: tuple[int, int] | None = None
        while True:
            page = self._keyset(self.chat_keys, ("chat_id", "version"), after, KEY_PAGE)
            keys = [_chat_key(s.to_dict()) for s in page]
            yield from keys
            if len(keys) < KEY_PAGE:
                return
            after = (keys[-1].chat_id, keys[-1].version)

    def _revisions(
        self,
        chat_id: int,
        key_version: int | None,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[SealedRevision]:
        # Two keyset reads, merged: the heads (each message's newest version) and the
        # superseded versions' documents, each on (chat_id[, key_version], message_id,
        # edit_date) (firestore.indexes.json).
        def read(collection: Any) -> list[SealedRevision]:
            q = self._where(collection, "chat_id", "==", chat_id)
            if key_version is not None:
                q = self._where(q, "key_version", "==", key_version)
            page = self._keyset(q, ("message_id", "edit_date"), after, limit)
            return [
                SealedRevision(
                    chat_id, d["message_id"], d["edit_date"], _key_version(d), bytes(d["envelope"])
                )
                for d in (s.to_dict() for s in page)
            ]

        return merged_versions(read(self.messages), read(self.revision_docs), limit)

    def _count_revisions(self, chat_id: int | None) -> dict[tuple[int, int], int]:
        counts: Counter[tuple[int, int]] = Counter()
        heads: set[tuple[int, int, int]] = set()
        for collection in (self.messages, self.revision_docs):
            q: Any = collection
            if chat_id is not None:
                q = self._where(q, "chat_id", "==", chat_id)
            # Only these fields are needed (the emulator ignores the projection: no matter).
            q = q.select(["chat_id", "message_id", "edit_date", "key_version"])
            for snapshot in q.stream():
                data = snapshot.to_dict()
                if data.get("key_version") is None:  # written before the field existed
                    data = snapshot.reference.get().to_dict()
                position = (data["chat_id"], data["message_id"], data["edit_date"])
                if collection is self.messages:
                    heads.add(position)
                elif position in heads:
                    continue  # a head's duplicate (an archive not yet compacted)
                counts[data["chat_id"], _key_version(data)] += 1
        return dict(counts)

    def _compact_envelopes(
        self, chat_id: int, after: int | None, limit: int, dry_run: bool
    ) -> Compaction:
        q = self._where(self.revision_docs, "chat_id", "==", chat_id)
        if after is not None:
            q = self._where(q, "message_id", ">", after)
        limit = min(limit, BATCH_LIMIT // 2)  # a head read and a delete each, in one transaction
        batch = list(q.order_by("message_id").order_by("edit_date").limit(limit).stream())
        if not batch:
            return Compaction(scanned=0, removed=0, last=None)
        removed: int = self._run(self._drop_duplicates, chat_id, batch, dry_run)
        last = batch[-1].get("message_id")
        if len(batch) == limit and batch[0].get("message_id") != last:
            last -= 1  # the last message may have more documents: read it again next time
        return Compaction(scanned=len(batch), removed=removed, last=last)

    def _drop_duplicates(
        self, transaction: Any, chat_id: int, batch: list[Any], dry_run: bool
    ) -> int:
        """Deletes the documents of ``batch`` that repeat their head's version, reading the
        heads in the transaction: an edit that moves a head's version into its document
        meanwhile makes this transaction retry (and then keep that document)."""
        message_ids = sorted({s.get("message_id") for s in batch})
        refs = [self.messages.document(f"{chat_id}:{m}") for m in message_ids]
        heads = {h.get("message_id"): h.to_dict() for h in transaction.get_all(refs) if h.exists}
        removed = 0
        for snapshot in batch:
            data = snapshot.to_dict()
            head = heads.get(data["message_id"])
            if (
                head is not None
                and head["edit_date"] == data["edit_date"]
                and bytes(head["envelope"]) == bytes(data["envelope"])
            ):
                if not dry_run:
                    transaction.delete(snapshot.reference)
                removed += 1
        return removed

    # -- the search index ---------------------------------------------------------------------

    def _add_search_tokens(self, chat_id: int, entries: Sequence[IndexEntry]) -> None:
        for start in range(0, len(entries), RESEAL_LIMIT):
            group = entries[start : start + RESEAL_LIMIT]
            added: dict[int, set[bytes]] = {}
            for entry in group:
                added.setdefault(entry.message_id, set()).update(
                    _elements(entry.key_version, entry.tokens)
                )
            self._run(self._rewrite_tokens, chat_id, added, lambda held, new: held | new)

    def _drop_search_tokens(self, chat_id: int, key_versions: Collection[int] | None) -> int:
        dropped = 0
        for page in self._indexed_heads(chat_id):
            heads = [snapshot.to_dict() or {} for snapshot in page]
            held = {head["message_id"]: _tokens_of(head) for head in heads}
            gone = {m: {e for e in es if _dropped(e, key_versions)} for m, es in held.items()}
            gone = {m: es for m, es in gone.items() if es}
            if gone:
                self._run(self._rewrite_tokens, chat_id, gone, lambda held, old: held - old)
                dropped += sum(map(len, gone.values()))
        return dropped

    def _rewrite_tokens(
        self,
        transaction: Any,
        chat_id: int,
        changes: dict[int, set[bytes]],
        change: Callable[[set[bytes], set[bytes]], set[bytes]],
    ) -> None:
        """Sets each head's tokens to ``change(held, changes[message])``, in a transaction (a
        concurrent edit adds its tokens in one too: neither loses the other's). Heads no
        longer stored are skipped. Not ArrayUnion: the emulator refuses it on a missing
        field, and the heads are read anyway."""
        refs = [self.messages.document(f"{chat_id}:{m}") for m in changes]
        for snapshot in transaction.get_all(refs):
            if not snapshot.exists:
                continue
            head = snapshot.to_dict() or {}
            held = _tokens_of(head)
            result = change(held, changes[head["message_id"]])
            if result != held:
                transaction.update(snapshot.reference, {"search_tokens": sorted(result)})

    def _count_search_tokens(self, chat_id: int) -> dict[int, int]:
        counts: Counter[int] = Counter()
        for page in self._indexed_heads(chat_id):
            for snapshot in page:
                for element in _tokens_of(snapshot.to_dict() or {}):
                    counts[_VERSION_PREFIX.unpack_from(element)[0]] += 1
        return dict(counts)

    def _indexed_heads(self, chat_id: int) -> Iterator[list[Any]]:
        """The chat's heads, a batch at a time, in message_id order."""
        after: int | None = None
        while True:
            q = self._where(self.messages, "chat_id", "==", chat_id)
            if after is not None:
                q = self._where(q, "message_id", ">", after)
            page = list(q.order_by("message_id").limit(BATCH_LIMIT).stream())
            if not page:
                return
            yield page
            after = page[-1].get("message_id")

    def _search(self, query: MessageQuery) -> Page:
        chats = {chat for alternatives in query.search for chat, _, _ in alternatives}
        wanted = [c for c in query.chats if c in chats] if query.chats else sorted(chats)
        # One query per chat: their first pages are fetched side by side, not one by one.
        streams = [self._search_chat(query, chat) for chat in wanted]
        with ThreadPoolExecutor(max_workers=SEARCH_THREADS) as pool:
            firsts = list(pool.map(lambda stream: list(itertools.islice(stream, 1)), streams))
        streams = [itertools.chain(first, s) for first, s in zip(firsts, streams, strict=True)]
        rows = heapq.merge(*streams, key=lambda d: d["sort_key"], reverse=query.descending)
        found = [_stored(d) for d in itertools.islice(rows, query.limit + 1)]
        return Page(items=found[: query.limit], has_more=len(found) > query.limit)

    def _search_chat(self, query: MessageQuery, chat_id: int) -> Iterator[dict[str, Any]]:
        """The chat's heads that match every term and filter, in sort_key order, fetched a
        page at a time as the merge asks for them."""
        terms = [
            {_element(version, token) for chat, version, token in alternatives if chat == chat_id}
            for alternatives in query.search
        ]
        if not all(terms):
            return  # a term with no token here: nothing in this chat can match
        first, others = terms[0], terms[1:]
        after = query.after
        while True:
            q = self._where(self.messages, "chat_id", "==", chat_id)
            q = self._where(q, "search_tokens", "array_contains_any", sorted(first))
            q = self._sort_key_range(q, replace(query, after=after))
            page = [s.to_dict() for s in q.limit(query.limit + 1).stream()]
            for data in page:
                held = _tokens_of(data)
                if all(held & term for term in others) and _passes(data, query):
                    yield data
            if len(page) <= query.limit:
                return
            after = page[-1]["sort_key"]

    # -- the archive log's pending leaves ------------------------------------------------------
    # A message version's leaf rides in its head (``log_pending``), written in the version's own
    # commit; the rest are documents of ``pending_leaves``. The sequencer reads both, oldest
    # first, and drops what it appended: from the heads in a transaction that reads them (an
    # edit may add a leaf to one meanwhile), from ``pending_leaves`` by deletes.

    def _add_pending_leaves(self, leaves: Sequence[PendingLeaf]) -> None:
        for start in range(0, len(leaves), BATCH_LIMIT):
            batch = self.client.batch()
            for pending in leaves[start : start + BATCH_LIMIT]:
                # ``set`` of the same content: a key already pending stays as it is.
                batch.set(self.leaf_docs.document(pending.key), _leaf_fields(pending))
            batch.commit()

    def _pending_leaves(self, limit: int) -> list[PendingLeaf]:
        found = []
        for snapshot in self.leaf_docs.order_by("created").order_by("key").limit(limit).stream():
            data: Any = snapshot.to_dict()
            found.append(PendingLeaf(data["key"], bytes(data["leaf"]), int(data["created"])))
        # The ``limit`` heads whose oldest leaf is oldest hold, among their leaves, the oldest
        # ``limit`` of all the heads' (each holds one no newer than any leaf of a head left).
        heads = self._where(self.messages, "log_pending_since", ">", 0)
        for snapshot in heads.order_by("log_pending_since").limit(limit).stream():
            found.extend(_pending_in_head((snapshot.to_dict() or {}).get("log_pending") or {}))
        unique = {pending.key: pending for pending in found}  # see _keep_pending_leaves
        return sorted(unique.values(), key=lambda p: (p.created, p.key))[:limit]

    def _drop_pending_leaves(self, keys: Collection[str]) -> None:
        by_head: dict[str, set[str]] = {}
        for key in keys:
            by_head.setdefault(_head_of_leaf(key), set()).add(key)
        by_head.pop("", None)
        in_heads: set[str] = set()
        names = sorted(by_head)
        for start in range(0, len(names), BATCH_LIMIT):
            chunk = {name: by_head[name] for name in names[start : start + BATCH_LIMIT]}
            in_heads |= self._run(self._clear_heads, chunk)
        elsewhere = [key for key in keys if key not in in_heads]
        for start in range(0, len(elsewhere), BATCH_LIMIT):
            batch = self.client.batch()
            for key in elsewhere[start : start + BATCH_LIMIT]:
                batch.delete(self.leaf_docs.document(key))
            batch.commit()

    def _clear_heads(self, transaction: Any, by_head: dict[str, set[str]]) -> set[str]:
        """Removes the named leaves from the heads that hold them; returns the keys removed."""
        refs = [self.messages.document(name) for name in by_head]
        removed: set[str] = set()
        for ref, head in zip(refs, self._read(transaction, refs), strict=True):
            held = (head.to_dict() or {}).get("log_pending") or {} if head.exists else {}
            found = by_head[ref.id] & held.keys()
            if found:
                kept = {key: entry for key, entry in held.items() if key not in found}
                transaction.update(ref, _pending_fields(kept))
                removed |= found
        return removed

    def _ping(self) -> None:
        # A write, so that a database the service may read but not write is not ready; one
        # small document per process, overwritten by each probe.
        readiness = self.client.collection("readiness")
        probe = readiness.document(f"{socket.gethostname()}:{os.getpid()}")
        probe.set({"at": datetime.now(UTC)})


def _bound_every_call(client: Any, seconds: float) -> None:
    """Gives up on any one Firestore call, retries included, after ``seconds``.

    The client's defaults retry an unreachable Firestore for a minute or more per call (seen
    here: a get against a stopped emulator still waiting after 200 s). The webhook must answer
    503 well inside Telegram's ~60 s and gunicorn's 30 s, so every RPC the client makes,
    including the transactions' begin and commit, which take no per-call arguments, gets the
    bound on its transport's wrapped methods. A query's stream is one call for all its
    documents, so queries (maintenance walks thousands) get a longer bound; a retry after
    "unavailable" still stops at ``seconds``. The fault suite (Firestore stopped) holds this."""
    transport = client._firestore_api._transport
    queries = {transport.run_query, transport.run_aggregation_query}
    for rpc, method in transport._wrapped_methods.items():
        if method._retry is not None:
            method._retry = method._retry.with_timeout(seconds)
        method._timeout = seconds * QUERY_BOUND_FACTOR if rpc in queries else seconds


def _stored(data: Any) -> StoredMessage:
    values: dict[str, Any] = {name: data.get(name) for name in _STORED_FIELDS}
    values["envelope"] = bytes(values["envelope"])
    values["key_version"] = _key_version(data)
    return StoredMessage(**values)


def _key_version(data: Any) -> int:
    """The record's chat-key version. Documents written before the field existed carry it only
    in their envelope's header; a key_version filter misses them, so reencrypt_messages counts
    them as left over and does not retire their key version (nothing is lost)."""
    version = data.get("key_version")
    return int(version) if version is not None else key_version_of(bytes(data["envelope"]))


def _already_exists(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, google_errors.AlreadyExists):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class _FullPath(Exception):
    """The fast path cannot decide this put; the transaction is rolled back."""


def _is_active(key: Any) -> bool:
    return bool(key.exists and (key.to_dict() or {}).get("state") == ACTIVE)


def _revision_fields(message: SealedMessage) -> dict[str, Any]:
    return {
        "chat_id": message.chat_id,
        "message_id": message.message_id,
        "edit_date": message.edit_date,
        "key_version": message.key_version,
        "envelope": message.envelope,
    }


def _superseded_fields(head: dict[str, Any]) -> dict[str, Any]:
    """The revision document of a head's version when an edit supersedes it."""
    return {
        "chat_id": head["chat_id"],
        "message_id": head["message_id"],
        "edit_date": head["edit_date"],
        "key_version": _key_version(head),
        "envelope": head["envelope"],
    }


def _leaf_fields(pending: PendingLeaf) -> dict[str, Any]:
    return {"key": pending.key, "leaf": pending.leaf, "created": pending.created}


def _tokens_of(head: Any) -> set[bytes]:
    """A head's search tokens (none for a head written before its chat was indexed)."""
    return {bytes(e) for e in head.get("search_tokens") or []}


def _element(key_version: int, token: bytes) -> bytes:
    """A token as the head's array holds it: prefixed with its chat-key version, so that
    re-keying can drop a retired version's tokens."""
    return _VERSION_PREFIX.pack(key_version) + token


def _elements(key_version: int, tokens: Iterable[bytes]) -> list[bytes]:
    return [_element(key_version, token) for token in sorted(tokens)]


def _dropped(element: bytes, key_versions: Collection[int] | None) -> bool:
    return key_versions is None or _VERSION_PREFIX.unpack_from(element)[0] in key_versions


def _passes(data: dict[str, Any], query: MessageQuery) -> bool:
    """Whether a head a search query returned meets the query's other filters."""
    for field, value in (
        ("sender_id", query.user),
        ("thread_id", query.thread),
        ("kind", query.kind),
    ):
        if value is not None and data.get(field) != value:
            return False
    return query.edited is None or (data.get("version_count", 1) > 1) == query.edited


def _new_head(message: SealedMessage) -> dict[str, Any]:
    tokens = message.search_tokens
    return {
        **{name: getattr(message, name) for name in HEAD_FIELDS},
        "chat_id": message.chat_id,
        "message_id": message.message_id,
        "sort_key": message.sort_key,
        "version_count": 1,
        # An equality field: Firestore takes range filters on one field (sort_key).
        "edited": False,
        **({"search_tokens": _elements(message.key_version, tokens)} if tokens else {}),
        **_leaf_changes(None, message),
    }


def _leaf_changes(head: dict[str, Any] | None, message: SealedMessage) -> dict[str, Any]:
    """The head fields that add the version's pending log leaf (none when the log is off):
    ``log_pending`` maps a leaf key to the leaf and when it was created, ``log_pending_since``
    is the oldest of them (what the sequencer's query orders by)."""
    pending = message.pending_leaf(time.time_ns() // 1000)
    if pending is None:
        return {}
    held = dict((head or {}).get("log_pending") or {})
    held[pending.key] = {"leaf": pending.leaf, "created": pending.created}
    return _pending_fields(held)


def _pending_fields(held: dict[str, Any]) -> dict[str, Any]:
    """A head's pending-leaf fields for ``held``; none left is ``{}`` and 0, which the
    sequencer's query (``log_pending_since > 0``) passes over."""
    since = min((int(entry["created"]) for entry in held.values()), default=0)
    return {"log_pending": held, "log_pending_since": since}


def _head_of_leaf(key: str) -> str:
    """The head document a record leaf's key names (``r:chat:message:edit_date:digest``);
    "" for any other leaf."""
    kind, *parts = key.split(":")
    return f"{parts[0]}:{parts[1]}" if kind == "r" and len(parts) == 4 else ""


def _pending_in_head(held: dict[str, Any]) -> Iterator[PendingLeaf]:
    for key, entry in held.items():
        yield PendingLeaf(key, bytes(entry["leaf"]), int(entry["created"]))


def _chat(data: Any, *, message_count: int) -> ChatRecord:
    title = data.get("sealed_title")
    return ChatRecord(
        chat_id=data["chat_id"],
        type=data["type"],
        first_date=data["first_date"],
        last_date=data["last_date"],
        message_count=message_count,
        sealed_title=bytes(title) if title is not None else None,
        migrated_to_chat_id=data.get("migrated_to_chat_id"),
        migrated_from_chat_id=data.get("migrated_from_chat_id"),
    )


def _chat_key(data: Any) -> ChatKeyRecord:
    # A field with a default may be missing from a document written before it existed.
    values: dict[str, Any] = {
        f.name: data[f.name] if f.default is MISSING else data.get(f.name, f.default)
        for f in fields(ChatKeyRecord)
    }
    values["wrapped"] = bytes(values["wrapped"])
    return ChatKeyRecord(**values)


def _chat_key_fields(record: ChatKeyRecord) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(ChatKeyRecord)}


def _fingerprint(records: Iterable[ChatKeyRecord]) -> set[tuple[Any, ...]]:
    return {(r.version, r.state, bytes(r.wrapped), r.kek_version) for r in records}
