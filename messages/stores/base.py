"""The message-store contract. Every backend stores sealed records only: no plaintext, ever.

A message is (chat_id, message_id). Each Telegram revision of it is kept, identified by its
``edit_date`` (0 for the original): a replay of a revision changes nothing, an edit adds one,
and the head is the revision with the latest edit_date whatever order they arrived in. Each
revision's envelope is stored once: the head holds the newest, and a revision record exists
only for a superseded one (so a new message is one record; docs/performance.md).
Lists show one entry per message (its head), ordered by ``sort_key``.

The contract has six parts, one class each, and a store is all six (``MessageStore``):

- ``MessageRecords``: the archive itself; write a revision, read messages and pages;
- ``ChatDirectory``: the chats the archive holds, and migrations between them;
- ``ChatKeyStorage``: the wrapped chat keys, changed only by compare-and-set (this is what
  ``crypto.chatkeys.ChatKeyStore`` asks of a store);
- ``Maintenance``: what rotation, verification and shredding need: sealed revisions by
  position, re-sealing, deleting a chat and erasing what deletion leaves behind, and a ping;
- ``SearchIndexStorage``: the blind search tokens kept beside a chat's records (written with
  each revision by ``put_message`` when it carries them, matched by ``query``'s ``search``);
- ``LeafQueue``: the archive log's pending leaves, written with each new revision.
- ``ChatEvents``: what happens in a chat besides its messages (reactions, membership), sealed
  like messages, one record per event.

As Django's ``Storage.save()`` calls ``_save()``, each public method here calls a private one
that the backend implements, inside ``_errors()``: the one place where a backend turns its own
failures into ``StoreError``. Callers see StoreError (answer 503, retry later) and the
contract's own outcomes (``InactiveChatKey``), never a driver's exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from crypto.chatkeys import ChatKeyRecord, is_shredded
from groupie import metrics
from messages.stores.records import (
    ChatRecord,
    ChatSnapshot,
    Compaction,
    DeleteResult,
    EventPage,
    EventQuery,
    EventReseal,
    IndexEntry,
    MessageHistory,
    MessageId,
    MessageQuery,
    Page,
    PendingLeaf,
    PutOutcome,
    Reseal,
    SealedEvent,
    SealedMessage,
    SealedRevision,
    ShreddedChat,
    StoredMessage,
    StoreError,
)

T = TypeVar("T")


class _Backend(ABC):
    @abstractmethod
    def _errors(self) -> AbstractContextManager[None]:
        """A context that raises StoreError, chained, for any failure of the backend; the
        message names the failure's kind only (a driver's text may quote parameters)."""

    @contextmanager
    def _counted(self, operation: str) -> Iterator[None]:
        """``_errors()``, counting each StoreError by the contract's operation."""
        try:
            with self._errors():
                yield
        except StoreError:
            metrics.STORE_ERRORS.labels(operation).inc()
            raise

    def _guarded(self, items: Iterable[T], operation: str) -> Iterator[T]:
        """``items`` with each step inside ``_errors()``: for backends' generators."""
        iterator = iter(items)
        while True:
            with self._counted(operation):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item


class MessageRecords(_Backend):
    def put_message(
        self,
        message: SealedMessage,
        *,
        update_id: int | None = None,
        then: Callable[[], object] | None = None,
    ) -> PutOutcome:
        """Stores one revision idempotently and updates the head and the chat directory, all
        or nothing. Durable when it returns.

        Raises InactiveChatKey, storing nothing, unless ``message.key_version`` is the chat's
        active key version when the write commits, or was less than ``late_write_window``
        seconds before (a replay is a DUPLICATE whatever its key). Rotation and shredding wait
        out that window before they count or delete, so no record lands under a key they have
        moved past.

        ``update_id``, the Telegram Update that brought the record, is noted as taken in
        (``ReceivedUpdate``), and ``then`` is a write to Django's database that belongs with
        the record (a media file's record and fetch task). Both are written once the record
        is stored, a DUPLICATE included: in the same transaction where this store keeps its
        records in that database (one commit; on SQLite, the same group commit; on
        PostgreSQL, a new message's one statement when there is no ``then``), else just
        after, in a transaction of their own. An error there propagates; the record may then
        be stored without them, which a redelivery (a DUPLICATE, writing them again) makes
        good."""
        with self._counted("put_message"):
            return self._put_message(message, update_id, then)

    @property
    def late_write_window(self) -> float:
        """How long after a chat-key version stops being active a record sealed with it may
        still be stored, in seconds. SQL stores check the key in the write's own statement:
        0. Firestore leases key state to save a read per message (see its module)."""
        return 0.0

    def get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        """The head and every revision (oldest first), or None."""
        with self._counted("get_message"):
            return self._get_message(chat_id, message_id)

    def get_messages(self, ids: Iterable[MessageId]) -> dict[MessageId, StoredMessage]:
        """The heads of the given messages that exist, in one batch."""
        wanted = set(ids)
        if not wanted:
            return {}
        with self._counted("get_messages"):
            return self._get_messages(wanted)

    def query(self, query: MessageQuery) -> Page:
        """One page of heads in sort_key order; cost O(limit), never O(offset)."""
        with self._counted("query"):
            return self._query(query)

    def iter_heads(
        self, chat_id: int | None = None, batch_size: int = 500
    ) -> Iterator[StoredMessage]:
        """Every message's head, in sort_key order, fetched in keyset batches."""
        after: str | None = None
        chats = (chat_id,) if chat_id is not None else ()
        while True:
            page = self.query(
                MessageQuery(chats=chats, descending=False, after=after, limit=batch_size)
            )
            yield from page.items
            if not page.has_more:
                return
            after = page.items[-1].sort_key

    def iter_messages(
        self, chat_id: int | None = None, batch_size: int = 500
    ) -> Iterator[MessageHistory]:
        """Every message with its revisions, in sort_key order."""
        for head in self.iter_heads(chat_id, batch_size):
            history = self.get_message(head.chat_id, head.message_id)
            if history is not None:
                yield history

    @abstractmethod
    def _put_message(
        self, message: SealedMessage, update_id: int | None, then: Callable[[], object] | None
    ) -> PutOutcome: ...

    @abstractmethod
    def _get_message(self, chat_id: int, message_id: int) -> MessageHistory | None: ...

    @abstractmethod
    def _get_messages(self, ids: set[MessageId]) -> dict[MessageId, StoredMessage]: ...

    @abstractmethod
    def _query(self, query: MessageQuery) -> Page: ...


class ChatDirectory(_Backend):
    def get_chat(self, chat_id: int) -> ChatRecord | None:
        """The chat's directory entry, present while the chat has records."""
        with self._counted("get_chat"):
            return self._get_chat(chat_id)

    def list_chats(self) -> list[ChatRecord]:
        """Every chat in the directory, most recently active first."""
        with self._counted("list_chats"):
            return self._list_chats()

    def link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        """Records that a group became a supergroup (Telegram's migrate_to_chat_id)."""
        with self._counted("link_chats"):
            self._link_chats(old_chat_id, new_chat_id)

    @abstractmethod
    def _get_chat(self, chat_id: int) -> ChatRecord | None: ...

    @abstractmethod
    def _list_chats(self) -> list[ChatRecord]: ...

    @abstractmethod
    def _link_chats(self, old_chat_id: int, new_chat_id: int) -> None: ...


class ChatKeyStorage(_Backend):
    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        """Every version of a chat's key, oldest first."""
        return self.get_chat_keys_many([chat_id]).get(chat_id, [])

    def get_chat_keys_many(self, chat_ids: Collection[int]) -> dict[int, list[ChatKeyRecord]]:
        """Every version of each chat's key, oldest first, in one batch; chats without keys
        are left out."""
        if not chat_ids:
            return {}
        with self._counted("get_chat_keys_many"):
            return self._get_chat_keys_many(set(chat_ids))

    def iter_chat_keys(self) -> Iterator[ChatKeyRecord]:
        """Every version of every chat's key, by chat and version."""
        return self._guarded(self._iter_chat_keys(), "iter_chat_keys")

    def newest_chat_keys(self, limit: int) -> list[ChatKeyRecord]:
        """Up to ``limit`` of the most recently created chat keys whose wrapped key is kept
        (active or superseded), newest first: what the keyring check samples."""
        with self._counted("newest_chat_keys"):
            return self._newest_chat_keys(limit)

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        """Stores a chat-key version unless it exists; returns the stored record (another
        process's, if it created that version first)."""
        with self._counted("add_chat_key"):
            return self._add_chat_key(record)

    def change_chat_keys(
        self, chat_id: int, expected: Sequence[ChatKeyRecord], changed: Sequence[ChatKeyRecord]
    ) -> bool:
        """Compare and set on a chat's key versions, atomically: when the chat's versions are
        exactly ``expected`` (same versions, states and wrapped keys), writes each record of
        ``changed`` (replacing its version or adding it) and returns True; otherwise changes
        nothing and returns False. Rotation, rewrapping, retirement and shredding all go
        through here, so two of them can never interleave on one chat."""
        with self._counted("change_chat_keys"):
            return self._change_chat_keys(chat_id, expected, changed)

    def shredded_chats(self) -> list[ShreddedChat]:
        """Chats whose keys were destroyed by shred_chat (and not restarted since), newest
        first. Reads every chat key: fine for an admin page, not for a hot path."""
        by_chat: dict[int, list[ChatKeyRecord]] = {}
        for record in self.iter_chat_keys():
            by_chat.setdefault(record.chat_id, []).append(record)
        shredded = [
            ShreddedChat(chat_id, records[-1].changed_at)
            for chat_id, records in by_chat.items()
            if is_shredded(records)
        ]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(shredded, key=lambda c: c.shredded_at or oldest, reverse=True)

    @abstractmethod
    def _get_chat_keys_many(self, chat_ids: set[int]) -> dict[int, list[ChatKeyRecord]]: ...

    @abstractmethod
    def _iter_chat_keys(self) -> Iterator[ChatKeyRecord]: ...

    @abstractmethod
    def _newest_chat_keys(self, limit: int) -> list[ChatKeyRecord]: ...

    @abstractmethod
    def _add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord: ...

    @abstractmethod
    def _change_chat_keys(
        self, chat_id: int, expected: Sequence[ChatKeyRecord], changed: Sequence[ChatKeyRecord]
    ) -> bool: ...


class Maintenance(_Backend):
    def revisions(
        self,
        chat_id: int,
        *,
        key_version: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 500,
    ) -> list[SealedRevision]:
        """Up to ``limit`` of a chat's revisions (every version: the heads' and the superseded
        ones') in (message_id, edit_date) order, after the ``after`` position, only those
        sealed with ``key_version`` if given."""
        with self._counted("revisions"):
            return self._revisions(chat_id, key_version, after, limit)

    def iter_revisions(
        self, chat_id: int, *, key_version: int | None = None, batch_size: int = 500
    ) -> Iterator[SealedRevision]:
        """Every revision of a chat (sealed with ``key_version`` if given), in keyset batches.

        Safe to use while re-sealing what it yields: positions only move forward."""
        after: tuple[int, int] | None = None
        while True:
            batch = self.revisions(chat_id, key_version=key_version, after=after, limit=batch_size)
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].position

    def count_revisions(self, chat_id: int | None = None) -> dict[tuple[int, int], int]:
        """How many revisions each (chat, key version) has, for one chat or all."""
        with self._counted("count_revisions"):
            return self._count_revisions(chat_id)

    def replace_envelopes(self, chat_id: int, reseals: Sequence[Reseal]) -> int:
        """Applies each reseal whose revision still holds ``old``, atomically per batch;
        returns how many revisions changed. A head is replaced only if it holds ``old``, so a
        newer edit stored meanwhile is never overwritten."""
        if not reseals:
            return 0
        with self._counted("replace_envelopes"):
            return self._replace_envelopes(chat_id, reseals)

    def compact_envelopes(
        self, chat_id: int, *, after: int | None = None, limit: int = 500, dry_run: bool = False
    ) -> Compaction:
        """Deletes, among up to ``limit`` of the chat's revision records after message_id
        ``after`` (in position order), those that repeat their head's version (same edit_date
        and envelope): what an archive stored before each version's envelope was kept once
        holds for every message. Each batch is all or nothing and safe beside concurrent
        writes; running it again finds nothing more to delete. Reads never depend on it.
        With ``dry_run``, counts what it would delete and deletes nothing."""
        with self._counted("compact_envelopes"):
            return self._compact_envelopes(chat_id, after, limit, dry_run)

    def replace_chat_title(self, chat_id: int, old: bytes, new: bytes) -> bool:
        """Replaces the chat's sealed title if it still is ``old``."""
        with self._counted("replace_chat_title"):
            return self._replace_chat_title(chat_id, old, new)

    def delete_chat(self, chat_id: int) -> DeleteResult:
        """Deletes a chat's messages, revisions and directory entry (not its keys)."""
        with self._counted("delete_chat"):
            result = self._delete_chat(chat_id)
            result.events = self._delete_events(chat_id, None)
            return result

    def delete_messages_before(self, chat_id: int, before: int) -> DeleteResult:
        """Deletes the chat's messages dated (Telegram's date) before the unix time ``before``,
        with every revision of each; the chat's entry stays. In batches, each all or nothing:
        interrupted, it leaves whole messages, and running it again finishes."""
        with self._counted("delete_messages_before"):
            result = self._delete_messages_before(chat_id, before)
            result.events = self._delete_events(chat_id, before)
            return result

    def count_messages_before(self, chat_id: int, before: int) -> int:
        """How many of the chat's messages are dated before ``before`` (a dry run's answer)."""
        with self._counted("count_messages_before"):
            return self._count_messages_before(chat_id, before)

    def erase_deleted(self) -> bool:
        """Makes what deleted records left in the backend's own files unrecoverable, where the
        backend keeps such files (SQLite's write-ahead log); called after a shred. Returns False
        when that could not be finished now (it will be later), True otherwise."""
        return True

    def ping(self) -> None:
        """A cheap round trip for readiness checks; raises StoreError."""
        with self._counted("ping"):
            self._ping()

    @abstractmethod
    def _revisions(
        self,
        chat_id: int,
        key_version: int | None,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[SealedRevision]: ...

    @abstractmethod
    def _count_revisions(self, chat_id: int | None) -> dict[tuple[int, int], int]: ...

    @abstractmethod
    def _replace_envelopes(self, chat_id: int, reseals: Sequence[Reseal]) -> int: ...

    @abstractmethod
    def _compact_envelopes(
        self, chat_id: int, after: int | None, limit: int, dry_run: bool
    ) -> Compaction: ...

    @abstractmethod
    def _replace_chat_title(self, chat_id: int, old: bytes, new: bytes) -> bool: ...

    @abstractmethod
    def _delete_chat(self, chat_id: int) -> DeleteResult: ...

    @abstractmethod
    def _delete_messages_before(self, chat_id: int, before: int) -> DeleteResult: ...

    @abstractmethod
    def _count_messages_before(self, chat_id: int, before: int) -> int: ...

    @abstractmethod
    def _delete_events(self, chat_id: int, before: int | None) -> int:
        """(``ChatEvents``') deleting a chat's events with its messages."""

    @abstractmethod
    def _ping(self) -> None: ...


class SearchIndexStorage(_Backend):
    """Blind tokens (``crypto.blindindex``) beside a chat's records. ``put_message`` adds a
    revision's tokens with the revision; ``delete_chat`` and ``delete_messages_before`` delete
    the deleted messages' tokens with them. A message's tokens are the union over its
    revisions and chat-key versions: adding is idempotent."""

    def add_search_tokens(self, chat_id: int, entries: Sequence[IndexEntry]) -> None:
        """Adds the tokens of messages already stored (building the index, re-keying it);
        a message no longer stored is skipped."""
        if entries:
            with self._counted("add_search_tokens"):
                self._add_search_tokens(chat_id, entries)

    def drop_search_tokens(self, chat_id: int, key_versions: Collection[int] | None = None) -> int:
        """Deletes the chat's tokens under the given chat-key versions (all when None);
        returns how many, where the backend can tell (else 0)."""
        with self._counted("drop_search_tokens"):
            return self._drop_search_tokens(chat_id, key_versions)

    def count_search_tokens(self, chat_id: int) -> dict[int, int]:
        """How many tokens the chat's index holds, by chat-key version."""
        with self._counted("count_search_tokens"):
            return self._count_search_tokens(chat_id)

    @abstractmethod
    def _add_search_tokens(self, chat_id: int, entries: Sequence[IndexEntry]) -> None: ...

    @abstractmethod
    def _drop_search_tokens(self, chat_id: int, key_versions: Collection[int] | None) -> int: ...

    @abstractmethod
    def _count_search_tokens(self, chat_id: int) -> dict[int, int]: ...


class LeafQueue(_Backend):
    """The archive log's pending leaves (docs/transparency.md). ``put_message`` adds a new
    revision's leaf (``SealedMessage.leaf``) in the revision's own commit, one small record
    keyed by the revision: no record shared by a chat or by the archive is written. The
    sequencer (``messages.transparency.log``) reads them in (created, key) order, gives them
    their indices in the log and drops them."""

    def add_pending_leaves(self, leaves: Sequence[PendingLeaf]) -> None:
        """Adds leaves written apart from a revision (tombstones, re-sealed revisions, a log
        built afterwards); one whose key is pending already is left as it is."""
        if leaves:
            with self._counted("add_pending_leaves"):
                self._add_pending_leaves(leaves)

    def pending_leaves(self, limit: int) -> list[PendingLeaf]:
        """Up to ``limit`` pending leaves, oldest (created, key) first."""
        with self._counted("pending_leaves"):
            return self._pending_leaves(limit)

    def drop_pending_leaves(self, keys: Collection[str]) -> None:
        """Deletes the pending leaves named (once sequenced); a missing one is no error."""
        if keys:
            with self._counted("drop_pending_leaves"):
                self._drop_pending_leaves(keys)

    @abstractmethod
    def _add_pending_leaves(self, leaves: Sequence[PendingLeaf]) -> None: ...

    @abstractmethod
    def _pending_leaves(self, limit: int) -> list[PendingLeaf]: ...

    @abstractmethod
    def _drop_pending_leaves(self, keys: Collection[str]) -> None: ...


class ChatEvents(_Backend):
    """Chat events (``messages.telegram_events``): one sealed record per event, identified by
    (chat_id, event_id), ordered in a chat by ``sort_key`` (date, then event_id). Deleting a
    chat deletes its events; deleting its messages before a date deletes the events before it
    too (``Maintenance``)."""

    def put_event(self, event: SealedEvent) -> PutOutcome:
        """Stores one event idempotently: CREATED, or DUPLICATE (nothing changed) when an event
        with its chat and event_id is stored already. Durable when it returns. Raises
        InactiveChatKey, storing nothing, unless ``event.key_version`` is the chat's active
        key version (with ``late_write_window``, as ``put_message``)."""
        with self._counted("put_event"):
            return self._put_event(event)

    def query_events(self, query: EventQuery) -> EventPage:
        """One page of a chat's events in sort_key order; cost O(limit) (with
        ``message_ids``, O(limit) per batch of ids)."""
        with self._counted("query_events"):
            return self._query_events(query)

    def iter_events(
        self,
        chat_id: int,
        *,
        kinds: tuple[str, ...] = (),
        message_ids: tuple[int, ...] = (),
        batch_size: int = 500,
    ) -> Iterator[SealedEvent]:
        """Every event of a chat (of those kinds, on those messages), oldest first."""
        after: str | None = None
        while True:
            page = self.query_events(
                EventQuery(chat_id, kinds, message_ids, after=after, limit=batch_size)
            )
            yield from page.items
            if not page.has_more:
                return
            after = page.items[-1].sort_key

    def note_event_chat(self, chat: ChatSnapshot, date: int) -> None:
        """Upserts the chat's directory entry for an event dated ``date``: its type, its sealed
        title (when given, and the event is the newest the entry has seen) and its first and
        last dates, as a message would, but counting no message. So a chat the bot was just
        added to (``my_chat_member``) is listed before its first message."""
        with self._counted("note_event_chat"):
            self._note_event_chat(chat, date)

    def count_events(self, chat_id: int, key_versions: Collection[int]) -> dict[int, int]:
        """How many of the chat's events are sealed with each of ``key_versions`` (a version
        with none is left out): what key retirement must see at zero."""
        if not key_versions:
            return {}
        with self._counted("count_events"):
            return self._count_events(chat_id, set(key_versions))

    def replace_event_envelopes(self, chat_id: int, reseals: Sequence[EventReseal]) -> int:
        """Applies each reseal whose event still holds ``old`` (key rotation's re-sealing),
        atomically per batch; returns how many events changed."""
        if not reseals:
            return 0
        with self._counted("replace_event_envelopes"):
            return self._replace_event_envelopes(chat_id, reseals)

    @abstractmethod
    def _put_event(self, event: SealedEvent) -> PutOutcome: ...

    @abstractmethod
    def _note_event_chat(self, chat: ChatSnapshot, date: int) -> None: ...

    @abstractmethod
    def _count_events(self, chat_id: int, key_versions: set[int]) -> dict[int, int]: ...

    @abstractmethod
    def _replace_event_envelopes(self, chat_id: int, reseals: Sequence[EventReseal]) -> int: ...

    @abstractmethod
    def _query_events(self, query: EventQuery) -> EventPage: ...

    @abstractmethod
    def _delete_events(self, chat_id: int, before: int | None) -> int:
        """Deletes the chat's events (dated before ``before`` when given); returns how many."""


class MessageStore(
    MessageRecords,
    ChatDirectory,
    ChatKeyStorage,
    Maintenance,
    SearchIndexStorage,
    LeafQueue,
    ChatEvents,
):
    """A store backend: all seven parts of the contract. Never returns partial writes."""
