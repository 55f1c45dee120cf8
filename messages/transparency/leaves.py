"""The leaves the archive writes: a record's and an event's (made where it is sealed, with the
chat key in hand) and a deletion's tombstone. The byte format is ``crypto.logleaf``'s."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from crypto import logleaf
from messages.stores.base import MessageStore
from messages.stores.records import PendingLeaf, event_leaf_key, record_leaf_key


def now_micros() -> int:
    return time.time_ns() // 1000


def record_leaf(
    chat_key: bytes,
    key_version: int,
    *,
    chat_id: int,
    message_id: int,
    edit_date: int,
    envelope: bytes,
    message: Mapping[str, Any] | str,
) -> bytes:
    """The leaf of one sealed revision of ``message`` (the Telegram message object; a record
    whose plaintext is not a JSON object is committed to as its text)."""
    opening = logleaf.opening_key(chat_key, chat_id, message_id, edit_date)
    date = message.get("date") if isinstance(message, Mapping) else None
    return logleaf.record_leaf(
        chat_id=chat_id,
        message_id=message_id,
        edit_date=edit_date,
        date=date if isinstance(date, int) else 0,
        key_version=key_version,
        envelope=envelope,
        commitment=logleaf.commitment(opening, message),
    )


def event_leaf(
    chat_key: bytes,
    key_version: int,
    *,
    chat_id: int,
    kind: str,
    event_id: int,
    date: int,
    envelope: bytes,
    event: Mapping[str, Any] | str,
) -> bytes:
    """The leaf of one sealed chat event (``event``: the Telegram object, as sealed)."""
    opening = logleaf.event_opening_key(chat_key, chat_id, kind, event_id, date)
    return logleaf.event_leaf(
        chat_id=chat_id,
        kind=kind,
        event_id=event_id,
        date=date,
        key_version=key_version,
        envelope=envelope,
        commitment=logleaf.commitment(opening, event),
    )


def pending_event(
    chat_id: int, event_id: int, date: int, envelope: bytes, leaf: bytes
) -> PendingLeaf:
    return PendingLeaf(event_leaf_key(chat_id, event_id, date, envelope), leaf, now_micros())


def pending_record(
    chat_id: int, message_id: int, edit_date: int, envelope: bytes, leaf: bytes
) -> PendingLeaf:
    return PendingLeaf(
        record_leaf_key(chat_id, message_id, edit_date, envelope), leaf, now_micros()
    )


def log_tombstone(
    store: MessageStore, chat_id: int, reason: str, *, before: int | None = None
) -> PendingLeaf:
    """Appends a tombstone (pending, in the store) before records are deleted: the log then
    says what went and why. Written first, so a deletion interrupted half way is covered
    (a tombstone allows a deletion; it does not require one)."""
    at = int(time.time())
    leaf = logleaf.tombstone_leaf(chat_id=chat_id, reason=reason, at=at, before=before)
    scope = "chat" if before is None else f"before-{before}"
    pending = PendingLeaf(f"t:{chat_id}:{reason}:{scope}:{at}", leaf, now_micros())
    store.add_pending_leaves([pending])
    return pending
