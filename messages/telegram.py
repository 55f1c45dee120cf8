"""The archive's vocabulary: a Telegram message object read into the plain record the archive
stores, and the kinds of message there are. Plain Python: no Django.

Only the fields groupie indexes on are validated and extracted; the whole Telegram message object
is kept as it came (it is what gets sealed), so fields Telegram adds later are archived too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Content fields in the order they decide a message's kind (venue before location: a venue
# carries a location too).
# Content fields that carry a file (animation first: Telegram sends a GIF as both).
FILE_KINDS = ("animation", "photo", "video", "video_note", "document", "audio", "voice", "sticker")
CONTENT_KINDS = (
    "text",
    *FILE_KINDS,
    "poll",
    "venue",
    "location",
    "contact",
    "dice",
    "game",
    "story",
    "invoice",
    "paid_media",
    "giveaway",
    "checklist",
)
SERVICE_FIELDS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "message_auto_delete_timer_changed",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "successful_payment",
        "users_shared",
        "chat_shared",
        "connected_website",
        "write_access_allowed",
        "proximity_alert_triggered",
        "boost_added",
        "chat_background_set",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "general_forum_topic_hidden",
        "general_forum_topic_unhidden",
        "giveaway_created",
        "giveaway_winners",
        "giveaway_completed",
        "video_chat_scheduled",
        "video_chat_started",
        "video_chat_ended",
        "video_chat_participants_invited",
    }
)
KINDS = (*CONTENT_KINDS, "service", "other")

_INT64 = 2**63
# Unix seconds up to the end of year 9999: what a date can be shown as.
_MAX_DATE = 253_402_300_799


class InvalidMessage(ValueError):
    """Not a Telegram message we can read. The text names the field, never a value."""


@dataclass(frozen=True)
class IncomingMessage:
    update_id: int
    update_kind: str  # an ARCHIVED_UPDATES key
    chat_id: int
    chat_type: str
    chat_title: str | None
    message_id: int
    date: int
    edit_date: int  # 0 for the original revision
    kind: str
    raw: Mapping[str, Any]  # the whole Telegram message object: the sealed plaintext
    thread_id: int | None = None
    sender_id: int | None = None
    reply_to_message_id: int | None = None
    media_group_id: str | None = None
    migrate_to_chat_id: int | None = None
    migrate_from_chat_id: int | None = None


def parse_message(update_id: int, field: str, message: object, *, is_edit: bool) -> IncomingMessage:
    """Reads a Telegram Message object found in an Update's ``field``; raises InvalidMessage
    for anything that is not one. Only the fields the archive indexes are checked."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"{field} is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict):
        raise InvalidMessage(f"{field}.chat is missing")
    chat_type = chat.get("type")
    if not isinstance(chat_type, str) or not chat_type:
        raise InvalidMessage(f"{field}.chat.type is missing")
    message_id = read_int(message, "message_id", field, minimum=1)
    edit_date = _optional_int(message, "edit_date", field) or 0
    if not 0 <= edit_date <= _MAX_DATE:
        raise InvalidMessage(f"{field}.edit_date is out of range")
    if is_edit and edit_date <= 0:
        raise InvalidMessage(f"{field}.edit_date is missing")
    sender = message.get("sender_chat") or message.get("from")
    reply = message.get("reply_to_message")
    media_group_id = message.get("media_group_id")
    return IncomingMessage(
        update_id=update_id,
        update_kind=field,
        chat_id=read_int(chat, "id", f"{field}.chat"),
        chat_type=chat_type[:16],
        chat_title=_chat_title(chat),
        message_id=message_id,
        date=_date(message, field),
        edit_date=edit_date,
        kind=message_kind(message),
        raw=message,
        thread_id=_optional_int(message, "message_thread_id", field),
        sender_id=read_int(sender, "id", f"{field}.from") if isinstance(sender, dict) else None,
        reply_to_message_id=(
            read_int(reply, "message_id", f"{field}.reply_to_message")
            if isinstance(reply, dict)
            else None
        ),
        media_group_id=str(media_group_id)[:64] if media_group_id is not None else None,
        migrate_to_chat_id=_optional_int(message, "migrate_to_chat_id", field),
        migrate_from_chat_id=_optional_int(message, "migrate_from_chat_id", field),
    )


def message_kind(message: Mapping[str, Any]) -> str:
    for kind in CONTENT_KINDS:
        if kind in message:
            return kind
    if SERVICE_FIELDS.intersection(message):
        return "service"
    return "other"


def _chat_title(chat: Mapping[str, Any]) -> str | None:
    title = chat.get("title")
    if isinstance(title, str) and title:
        return title
    # A private chat has no title: its name is the other person's.
    names = [chat.get(k) for k in ("first_name", "last_name")]
    name = " ".join(n for n in names if isinstance(n, str) and n)
    return name or None


def read_int(container: Mapping[str, Any], key: str, where: str, *, minimum: int = -_INT64) -> int:
    """An integer field within signed 64 bits; raises InvalidMessage naming the field."""
    value = container.get(key)
    # bool is an int in Python but never one in Telegram's JSON.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidMessage(f"{where}.{key} must be an integer")
    if not minimum <= value < _INT64:
        raise InvalidMessage(f"{where}.{key} is out of range")
    return value


def _date(message: Mapping[str, Any], where: str) -> int:
    value = read_int(message, "date", where, minimum=0)
    if value > _MAX_DATE:
        raise InvalidMessage(f"{where}.date is out of range")
    return value


def _optional_int(container: Mapping[str, Any], key: str, where: str) -> int | None:
    if container.get(key) is None:
        return None
    return read_int(container, key, where)
