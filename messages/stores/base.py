"""The message-store contract. Every backend stores sealed records only: no plaintext, ever.

A message is (chat_id, message_id). Each Telegram revision of it is kept, identified by its
``edit_date`` (0 for the original): a replay of a revision changes nothing, an edit adds one,
and the head is the revision with the latest edit_date whatever order they arrived in.
Lists show one entry per message (its head), ordered by ``sort_key``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crypto.chatkeys import ChatKeyRecord, is_shredded

MessageId = tuple[int, int]  # (chat_id, message_id)


# The fields a message's head takes from its newest revision (edit_date order).
HEAD_FIELDS = (
    "date",
    "edit_date",
    "kind",
    "thread_id",
    "sender_id",
    "reply_to_message_id",
    "media_group_id",
    "key_version",
    "envelope",
)


class StoreError(Exception):
    """The store failed or cannot be reached. Callers answer 503 and retry later."""


class InactiveChatKey(Exception):
    """The record was sealed with a chat-key version that is no longer the chat's active one
    (rotated or shredded since this process cached it). Nothing was stored: forget the cached
    key and seal again."""


class PutOutcome(enum.Enum):
    CREATED = "created"  # a message not seen before
    REVISED = "revised"  # a new revision (edit) of a known message
    DUPLICATE = "duplicate"  # this revision was already stored: nothing changed


@dataclass(frozen=True)
class ChatSnapshot:
    """What one archived message tells about its chat."""

    chat_id: int
    type: str
    sealed_title: bytes | None = None  # the title sealed with the chat key, when it has one


@dataclass(frozen=True)
class SealedMessage:
    """One revision to store, with the message's plain index fields."""

    chat: ChatSnapshot
    message_id: int
    date: int
    edit_date: int
    kind: str
    envelope: bytes
    key_version: int  # the chat-key version the envelope (and the chat title) was sealed with
    sort_key: str
    thread_id: int | None = None
    sender_id: int | None = None
    reply_to_message_id: int | None = None
    media_group_id: str | None = None

    @property
    def chat_id(self) -> int:
        return self.chat.chat_id


@dataclass(frozen=True)
class StoredMessage:
    """A message's head as lists show it."""

    chat_id: int
    message_id: int
    date: int
    edit_date: int
    kind: str
    envelope: bytes
    key_version: int
    sort_key: str
    version_count: int
    thread_id: int | None = None
    sender_id: int | None = None
    reply_to_message_id: int | None = None
    media_group_id: str | None = None

    @property
    def edited(self) -> bool:
        return self.version_count > 1


@dataclass(frozen=True)
class StoredRevision:
    version: int  # 1 for the earliest revision stored, in edit_date order
    edit_date: int
    envelope: bytes


@dataclass(frozen=True)
class SealedRevision:
    """One stored revision with where it lives, for re-sealing and verifying."""

    chat_id: int
    message_id: int
    edit_date: int
    key_version: int
    envelope: bytes

    @property
    def position(self) -> tuple[int, int]:
        return (self.message_id, self.edit_date)


@dataclass(frozen=True)
class Reseal:
    """Replace ``old`` by ``new`` (sealed with chat-key ``key_version``) in one revision, and in
    the message's head when the head still holds ``old``."""

    message_id: int
    edit_date: int
    old: bytes
    new: bytes
    key_version: int


@dataclass(frozen=True)
class MessageHistory:
    head: StoredMessage
    revisions: list[StoredRevision]


@dataclass(frozen=True)
class MessageQuery:
    """Filters are ANDed; an empty ``chats`` means every chat.

    ``after`` is the last sort_key already seen, exclusive, in the direction of travel.
    ``since``/``until`` are inclusive Telegram dates (unix seconds)."""

    chats: tuple[int, ...] = ()
    user: int | None = None
    thread: int | None = None
    since: int | None = None
    until: int | None = None
    kind: str | None = None
    edited: bool | None = None
    descending: bool = True
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class Page:
    items: list[StoredMessage]
    has_more: bool  # whether another page follows in the direction of travel


@dataclass(frozen=True)
class ChatRecord:
    chat_id: int
    type: str
    first_date: int
    last_date: int
    message_count: int
    sealed_title: bytes | None = None
    migrated_to_chat_id: int | None = None
    migrated_from_chat_id: int | None = None


@dataclass(frozen=True)
class ShreddedChat:
    chat_id: int
    shredded_at: datetime | None


@dataclass
class DeleteResult:
    messages: int = 0
    revisions: int = 0
    chats: int = 0


class MessageStore(ABC):
    """Raises StoreError for any failure of the backend; never returns partial writes."""

    @abstractmethod
    def put_message(self, message: SealedMessage) -> PutOutcome:
        """Stores one revision idempotently and updates the head and the chat directory, all
        or nothing. Durable when it returns.

        Raises InactiveChatKey, storing nothing, unless ``message.key_version`` is the chat's
        active key version when the write commits (a replay is a DUPLICATE whatever its key):
        so no record is ever stored under a key that a rotation or shred has moved past."""

    @abstractmethod
    def get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        """The head and every revision (oldest first), or None."""

    @abstractmethod
    def get_messages(self, ids: Iterable[MessageId]) -> dict[MessageId, StoredMessage]:
        """The heads of the given messages that exist, in one batch."""

    @abstractmethod
    def query(self, query: MessageQuery) -> Page:
        """One page of heads in sort_key order; cost O(limit), never O(offset)."""

    @abstractmethod
    def get_chat(self, chat_id: int) -> ChatRecord | None: ...

    @abstractmethod
    def list_chats(self) -> list[ChatRecord]:
        """Every chat in the directory, most recently active first."""

    @abstractmethod
    def link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        """Records that a group became a supergroup (Telegram's migrate_to_chat_id)."""

    # -- chat keys ---------------------------------------------------------------------------

    @abstractmethod
    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        """Every version of a chat's key, oldest first."""

    @abstractmethod
    def get_chat_keys_many(self, chat_ids: Collection[int]) -> dict[int, list[ChatKeyRecord]]:
        """Every version of each chat's key, oldest first, in one batch; chats without keys
        are left out."""

    @abstractmethod
    def iter_chat_keys(self) -> Iterator[ChatKeyRecord]:
        """Every version of every chat's key, by chat and version."""

    @abstractmethod
    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        """Stores a chat-key version unless it exists; returns the stored record."""

    @abstractmethod
    def change_chat_keys(
        self, chat_id: int, expected: Sequence[ChatKeyRecord], changed: Sequence[ChatKeyRecord]
    ) -> bool:
        """Compare and set on a chat's key versions, atomically: when the chat's versions are
        exactly ``expected`` (same versions, states and wrapped keys), writes each record of
        ``changed`` (replacing its version or adding it) and returns True; otherwise changes
        nothing and returns False. Rotation, rewrapping, retirement and shredding all go
        through here, so two of them can never interleave on one chat."""

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

    # -- sealed records, for rotation and verification ---------------------------------------

    @abstractmethod
    def revisions(
        self,
        chat_id: int,
        *,
        key_version: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 500,
    ) -> list[SealedRevision]:
        """Up to ``limit`` of a chat's revisions in (message_id, edit_date) order, after the
        ``after`` position, only those sealed with ``key_version`` if given."""

    @abstractmethod
    def count_revisions(self, chat_id: int | None = None) -> dict[tuple[int, int], int]:
        """How many revisions each (chat, key version) has, for one chat or all."""

    @abstractmethod
    def replace_envelopes(self, chat_id: int, reseals: Sequence[Reseal]) -> int:
        """Applies each reseal whose revision still holds ``old``, atomically per batch;
        returns how many revisions changed. A head is replaced only if it holds ``old``, so a
        newer edit stored meanwhile is never overwritten."""

    @abstractmethod
    def replace_chat_title(self, chat_id: int, old: bytes, new: bytes) -> bool:
        """Replaces the chat's sealed title if it still is ``old``."""

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
    def delete_chat(self, chat_id: int) -> DeleteResult:
        """Deletes a chat's messages, revisions and directory entry (not its keys)."""

    @abstractmethod
    def ping(self) -> None:
        """A cheap round trip for readiness checks; raises StoreError."""
