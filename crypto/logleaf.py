"""The archive log's leaves: what each one commits to, byte for byte. Plain Python, no
Django: an auditor's copy of ``crypto/`` rebuilds a leaf from an exported message with it.

A leaf is canonical JSON (sorted keys, no whitespace, UTF-8, ``canonical`` below) of one of:

- a record: ``{"v": 1, "type": "record", "chat", "message", "edit_date", "date",
  "key_version", "envelope": hex SHA-256 of the sealed envelope, "commitment": hex}``,
  one per archived revision (and one more each time a revision is re-sealed);
- an event: ``{"v": 1, "type": "event", "chat", "kind", "event", "date", "key_version",
  "envelope", "commitment"}``, one per archived chat event (a reaction, a membership change;
  ``event`` is the update_id, ``kind`` the Telegram field), and one more each time it is
  re-sealed. Its ``type`` is the record kind: an event's identity (chat, kind, event, date)
  never passes for a revision's (chat, message, edit_date), nor the other way;
- a tombstone: ``{"v": 1, "type": "tombstone", "chat", "reason", "scope", "at", ...}``:
  ``scope`` "chat" (every record of the chat logged before it: a shred, a chat purged) or
  "before" with ``before`` (the chat's messages dated before that unix time: retention and
  purge_messages), naming what went and why.

The commitment is HMAC-SHA256 of the canonical plaintext (the Telegram message object, or the
event's object) under the record's opening key, HKDF-SHA256 of the chat key with the record's
identity (and, for an event, its kind) as info. It
reveals nothing of the content; the opening key (exported with a message) lets an auditor
check the content without the chat key, and after a shred nobody can open it any more, while
the leaf still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
RECORD, EVENT, TOMBSTONE = "record", "event", "tombstone"
SCOPE_CHAT, SCOPE_BEFORE = "chat", "before"
REASONS = ("shred", "purge", "retention")
_INFO = b"groupie/v1/commitment|"
_EVENT_INFO = b"groupie/v1/event-commitment|"

Identity = tuple[int, int, int]  # (chat_id, message_id, edit_date)


def _finite(value: Any) -> Any:
    # A non-finite number (which only a record stored before the webhook refused them can
    # hold) is committed to as its name, the way every reader of a stored record shows it.
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ASCII escapes); non-finite numbers by name."""
    return json.dumps(
        _finite(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def opening_key(chat_key: bytes, chat_id: int, message_id: int, edit_date: int) -> bytes:
    info = _INFO + f"{chat_id}|{message_id}|{edit_date}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(chat_key)


def event_opening_key(chat_key: bytes, chat_id: int, kind: str, event_id: int, date: int) -> bytes:
    info = _EVENT_INFO + f"{chat_id}|{kind}|{event_id}|{date}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(chat_key)


def commitment(key: bytes, message: Any) -> bytes:
    return hmac.new(key, canonical(message), hashlib.sha256).digest()


def record_leaf(
    *,
    chat_id: int,
    message_id: int,
    edit_date: int,
    date: int,
    key_version: int,
    envelope: bytes,
    commitment: bytes,
) -> bytes:
    return canonical(
        {
            "v": VERSION,
            "type": RECORD,
            "chat": chat_id,
            "message": message_id,
            "edit_date": edit_date,
            "date": date,
            "key_version": key_version,
            "envelope": hashlib.sha256(envelope).hexdigest(),
            "commitment": commitment.hex(),
        }
    )


def event_leaf(
    *,
    chat_id: int,
    kind: str,
    event_id: int,
    date: int,
    key_version: int,
    envelope: bytes,
    commitment: bytes,
) -> bytes:
    return canonical(
        {
            "v": VERSION,
            "type": EVENT,
            "chat": chat_id,
            "kind": kind,
            "event": event_id,
            "date": date,
            "key_version": key_version,
            "envelope": hashlib.sha256(envelope).hexdigest(),
            "commitment": commitment.hex(),
        }
    )


def tombstone_leaf(*, chat_id: int, reason: str, at: int, before: int | None = None) -> bytes:
    if reason not in REASONS:
        raise ValueError(f"a tombstone's reason is one of {', '.join(REASONS)}")
    body: dict[str, Any] = {
        "v": VERSION,
        "type": TOMBSTONE,
        "chat": chat_id,
        "reason": reason,
        "at": at,
        "scope": SCOPE_CHAT if before is None else SCOPE_BEFORE,
    }
    if before is not None:
        body["before"] = before
    return canonical(body)


def parse(leaf: bytes) -> dict[str, Any]:
    """A leaf's fields; ValueError when it is not a leaf of this format."""
    value = json.loads(leaf)
    if not isinstance(value, dict) or value.get("v") != VERSION:
        raise ValueError("not a version 1 leaf")
    if value.get("type") not in (RECORD, EVENT, TOMBSTONE) or canonical(value) != leaf:
        raise ValueError("not a canonical leaf")
    return value


def identity(fields: dict[str, Any]) -> Identity:
    return (fields["chat"], fields["message"], fields["edit_date"])


EventIdentity = tuple[int, str, int, int]  # (chat_id, kind, event_id, date)


def event_identity(fields: dict[str, Any]) -> EventIdentity:
    return (fields["chat"], fields["kind"], fields["event"], fields["date"])


def covers(tombstone: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether a tombstone accounts for a record's (or an event's) absence (the caller checks
    that the record's leaf came before the tombstone)."""
    if tombstone["chat"] != record["chat"]:
        return False
    if tombstone["scope"] == SCOPE_CHAT:
        return True
    return bool(record["date"] < tombstone["before"])
