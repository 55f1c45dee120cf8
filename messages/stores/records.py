"""What the message store takes and gives: sealed records and their plain index fields, and
the errors it raises. No plaintext, ever. The contract itself is in ``base``."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

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


class RecordRefused(Exception):
    """The backend refused the record's own values (a number out of its range, a character it
    cannot hold). Deterministic: retrying changes nothing, so callers answer 400, not 503.
    The message names the failure's kind, never a value."""


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
    """What one archived message tells about its chat.

    ``changed`` False says the chat's directory entry needs no write for this message: the
    archive service knows it unchanged (same type, title and key version, written within the
    last minute). Nothing is then written to a record the whole chat shares, so a busy chat
    has no hot row or document."""

    chat_id: int
    type: str
    sealed_title: bytes | None = None  # the title sealed with the chat key, when it has one
    changed: bool = True


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
    # The blind tokens of this revision's search terms under ``key_version``'s index key, when
    # the chat is indexed (``crypto.blindindex``); stored beside the record, never a term.
    search_tokens: frozenset[bytes] | None = None
    # This revision's archive-log leaf (``crypto.logleaf``): stored as a pending leaf in the
    # record's own commit when the revision is new (never for a DUPLICATE).
    leaf: bytes | None = None

    @property
    def chat_id(self) -> int:
        return self.chat.chat_id

    def pending_leaf(self, created: int) -> PendingLeaf | None:
        if self.leaf is None:
            return None
        key = record_leaf_key(self.chat_id, self.message_id, self.edit_date, self.envelope)
        return PendingLeaf(key, self.leaf, created)


def event_leaf_key(chat_id: int, event_id: int, date: int, envelope: bytes) -> str:
    """An event leaf's key: the event and its envelope's digest (as ``record_leaf_key``; the
    prefix keeps it apart from every revision's)."""
    digest = hashlib.sha256(envelope).hexdigest()[:32]
    return f"e:{chat_id}:{date}:{event_id}:{digest}"


def record_leaf_key(chat_id: int, message_id: int, edit_date: int, envelope: bytes) -> str:
    """A record leaf's key: the revision and its envelope's digest (a re-sealed revision gets
    a leaf of its own)."""
    digest = hashlib.sha256(envelope).hexdigest()[:32]
    return f"r:{chat_id}:{message_id}:{edit_date}:{digest}"


@dataclass(frozen=True)
class PendingLeaf:
    """An archive-log leaf waiting for the sequencer; ``created`` (microseconds) orders it."""

    key: str
    leaf: bytes
    created: int


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


def merged_versions(
    heads: Iterable[SealedRevision], superseded: Iterable[SealedRevision], limit: int
) -> list[SealedRevision]:
    """The first ``limit`` versions, in position order, of two keyset reads from the same
    position: the heads (each message's newest version) and the superseded versions' records.
    A record at its head's position (an archive stored before each version's envelope was
    kept once, not yet compacted) is the head's version: it is counted once, as the head.

    Each read took up to ``limit`` in position order, so everything up to the ``limit``-th
    version of the merge was read by both."""
    by_position = {r.position: r for r in superseded}
    by_position.update({r.position: r for r in heads})
    return [by_position[p] for p in sorted(by_position)[:limit]]


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


def versions_of(
    head: StoredMessage, superseded: Iterable[tuple[int, bytes]]
) -> list[StoredRevision]:
    """A message's versions, numbered in edit_date order: the superseded ones, given as
    (edit_date, envelope), and the head's (the newest). A record at the head's edit_date (an
    archive not yet compacted) is the head's version, counted once."""
    envelopes = {edit_date: bytes(envelope) for edit_date, envelope in superseded}
    envelopes[head.edit_date] = head.envelope
    return [
        StoredRevision(version=number, edit_date=edit_date, envelope=envelopes[edit_date])
        for number, edit_date in enumerate(sorted(envelopes), start=1)
    ]


@dataclass(frozen=True)
class Compaction:
    """One batch of ``compact_envelopes``: records read, duplicates removed, and the last
    message_id done (where the next batch starts), None when there was nothing left."""

    scanned: int
    removed: int
    last: int | None


# A token as a search looks for it: (chat_id, chat-key version, token).
SearchToken = tuple[int, int, bytes]


@dataclass(frozen=True)
class IndexEntry:
    """A message's search tokens under one chat-key version, to add to the index."""

    message_id: int
    key_version: int
    tokens: frozenset[bytes]


@dataclass(frozen=True)
class MessageQuery:
    """Filters are ANDed; an empty ``chats`` means every chat.

    ``after`` is the last sort_key already seen, exclusive, in the direction of travel.
    ``since``/``until`` are inclusive Telegram dates (unix seconds). ``search`` holds one set
    per search term: a message matches when, for every term, one of the set's tokens is in its
    index entries (the caller confirms candidates by decrypting them: the store's answer may
    hold a message whose latest text no longer has the term, or a token collision)."""

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
    search: tuple[frozenset[SearchToken], ...] = ()


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
    events: int = 0


# -- chat events: reactions and membership (``messages.telegram_events``) ----------------------


def event_sort_key(date: int, event_id: int) -> str:
    """An event's place in its chat's timeline: Telegram's date, then the event's identity
    (the update_id, sequential per bot), fixed width so that string order is that order."""
    return f"{date:011d}.{event_id:020d}"


@dataclass(frozen=True)
class SealedEvent:
    """One chat event to store. Plain: the chat, the message reacted to (0 for membership
    events), Telegram's date, the kind and the event's identity; everything else (who, which
    emoji, which status) is inside the envelope."""

    chat_id: int
    kind: str
    event_id: int  # the Update's update_id: a redelivery carries the same
    date: int
    message_id: int
    key_version: int
    envelope: bytes
    # Its archive-log leaf (``crypto.logleaf``), written in the event's own commit; a write
    # only (an event read back has None).
    leaf: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def sort_key(self) -> str:
        return event_sort_key(self.date, self.event_id)

    def pending_leaf(self, created: int) -> PendingLeaf | None:
        if self.leaf is None:
            return None
        key = event_leaf_key(self.chat_id, self.event_id, self.date, self.envelope)
        return PendingLeaf(key, self.leaf, created)


StoredEvent = SealedEvent


@dataclass(frozen=True)
class EventReseal:
    """Replace ``old`` by ``new`` (sealed with chat-key ``key_version``) in the chat's event at
    ``sort_key``, if that event still holds ``old``."""

    sort_key: str
    old: bytes
    new: bytes
    key_version: int


@dataclass(frozen=True)
class EventQuery:
    """One chat's events; ``kinds`` and ``message_ids`` narrow it when given. ``after`` is the
    last sort_key seen, exclusive, in the direction of travel."""

    chat_id: int
    kinds: tuple[str, ...] = ()
    message_ids: tuple[int, ...] = ()
    descending: bool = False
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class EventPage:
    items: list[StoredEvent]
    has_more: bool
