"""What the API and admin show of an opened Telegram message. Plain Python: no Django.

The sealed plaintext is the whole Telegram message object; these functions pick out the parts
people read (sender, text, entities, media) so every reader presents them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from messages.telegram import FILE_KINDS


def iso_date(timestamp: int) -> str:
    """A Telegram unix date as ISO 8601 UTC."""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def iso_edit_date(edit_date: int) -> str | None:
    """An edit date as ISO 8601 UTC; None for the original revision (edit_date 0)."""
    return iso_date(edit_date) if edit_date else None


def sender(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """Who sent it: the chat it was sent on behalf of, else the user."""
    chat = message.get("sender_chat")
    if isinstance(chat, Mapping):
        return {
            "id": chat.get("id"),
            "is_bot": False,
            "first_name": chat.get("title"),
            "last_name": None,
            "username": chat.get("username"),
            "is_chat": True,
        }
    user = message.get("from")
    if isinstance(user, Mapping):
        return {
            "id": user.get("id"),
            "is_bot": bool(user.get("is_bot", False)),
            "first_name": user.get("first_name"),
            "last_name": user.get("last_name"),
            "username": user.get("username"),
            "is_chat": False,
        }
    return None


def text(message: Mapping[str, Any]) -> str | None:
    """The text, or a media message's caption."""
    value = message.get("text", message.get("caption"))
    return value if isinstance(value, str) else None


def entities(message: Mapping[str, Any]) -> list[Any]:
    value = message.get("entities", message.get("caption_entities"))
    return list(value) if isinstance(value, list) else []


def media(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A summary of the attached file: type, file ids, name, mime type and size."""
    for field in FILE_KINDS:
        value = message.get(field)
        if isinstance(value, list) and value:  # photo: sizes, smallest first
            largest = value[-1] if isinstance(value[-1], Mapping) else {}
            return {
                "type": field,
                "file_ids": [p.get("file_id") for p in value if isinstance(p, Mapping)],
                "file_unique_id": largest.get("file_unique_id"),
                "file_name": None,
                "mime_type": None,
                "file_size": largest.get("file_size"),
                "width": largest.get("width"),
                "height": largest.get("height"),
                "duration": None,
            }
        if isinstance(value, Mapping):
            return {
                "type": field,
                "file_ids": [value.get("file_id")],
                "file_unique_id": value.get("file_unique_id"),
                "file_name": value.get("file_name"),
                "mime_type": value.get("mime_type"),
                "file_size": value.get("file_size"),
                "width": value.get("width"),
                "height": value.get("height"),
                "duration": value.get("duration"),
            }
    return None


def imported_from(message: Mapping[str, Any]) -> str | None:
    """The source of a backfilled message (``groupie_import.source``), None for live ones."""
    imported = message.get("groupie_import")
    source = imported.get("source") if isinstance(imported, Mapping) else None
    return str(source) if source else None


def summary(message: Mapping[str, Any]) -> str | None:
    """What a message without text says, in a few words: a poll's question, a location, a
    sticker's emoji, who joined or left, a new title. None for text and plain media (the text
    and the media summary say it)."""
    for field, describe in _SUMMARIES:
        value = message.get(field)
        if value:
            said = describe(value)
            if said:
                return said
    return None


def _name(user: Any) -> str:
    if not isinstance(user, Mapping):
        return "someone"
    return " ".join(str(user[k]) for k in ("first_name", "last_name") if user.get(k)) or "someone"


def _poll(poll: Any) -> str:
    options = [str(o.get("text")) for o in poll.get("options", []) if isinstance(o, Mapping)]
    listed = f" ({' / '.join(options)})" if options else ""
    return f"Poll: {poll.get('question', '')}{listed}"


def _location(place: Any) -> str:
    return f"Location: {place.get('latitude')}, {place.get('longitude')}"


def _venue(venue: Any) -> str:
    return f"Venue: {venue.get('title', '')}, {venue.get('address', '')}"


def _contact(contact: Any) -> str:
    return f"Contact: {_name(contact)} {contact.get('phone_number', '')}".strip()


_SUMMARIES: tuple[tuple[str, Any], ...] = (
    ("poll", lambda v: _poll(v) if isinstance(v, Mapping) else None),
    ("venue", lambda v: _venue(v) if isinstance(v, Mapping) else None),
    ("location", lambda v: _location(v) if isinstance(v, Mapping) else None),
    ("contact", lambda v: _contact(v) if isinstance(v, Mapping) else None),
    (
        "dice",
        lambda v: (
            f"Dice {v.get('emoji', '')} rolled {v.get('value')}" if isinstance(v, Mapping) else None
        ),
    ),
    (
        "sticker",
        lambda v: f"Sticker {v.get('emoji', '')}".strip() if isinstance(v, Mapping) else None,
    ),
    (
        "new_chat_members",
        lambda v: "Joined: " + ", ".join(_name(u) for u in v) if isinstance(v, list) else None,
    ),
    ("left_chat_member", lambda v: f"Left: {_name(v)}"),
    ("new_chat_title", lambda v: f"Title changed to: {v}"),
    ("pinned_message", lambda v: "Pinned a message"),
    (
        "forum_topic_created",
        lambda v: f"Topic created: {v.get('name', '')}" if isinstance(v, Mapping) else None,
    ),
    ("migrate_to_chat_id", lambda v: f"Group upgraded to supergroup {v}"),
    ("migrate_from_chat_id", lambda v: f"Upgraded from group {v}"),
)
