"""The archive's vocabulary: a Telegram message object read into the plain record the archive
stores, and the kinds of message there are. Plain Python: no Django.

Only the fields groupie indexes on are validated and extracted; the whole Telegram message object
is kept as it came (it is what gets sealed), so fields Telegram adds later are archived too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

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
MAX_ID = 2**53 - 1
# Telegram's deepest structures (a reply markup's buttons, a checklist's entities) nest about
# ten levels inside an Update; anything much deeper is not from Telegram. The webhook refuses
# such an Update, and the imports a message nested as deep inside one.
MAX_UPDATE_DEPTH = 32
MAX_CHAT_TYPE = 16  # "private", "group", "supergroup", "channel"; the column holds 16
MAX_MEDIA_GROUP_ID = 64  # the column's width
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
    media: MediaRef | None = None  # the file to fetch, its fields checked (read_media)


def parse_message(update_id: int, field: str, message: object, *, is_edit: bool) -> IncomingMessage:
    """Reads a Telegram Message object found in an Update's ``field``; raises InvalidMessage
    for anything that is not one. Every field the archive stores in plain (its index fields) is
    checked against what Telegram sends, so a value every store can hold is all that reaches
    one: a record refused by the store would be refused on every redelivery."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"{field} is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict):
        raise InvalidMessage(f"{field}.chat is missing")
    message_id = read_id(message, "message_id", field, minimum=1)
    edit_date = _optional_date(message, "edit_date", field) or 0
    if is_edit and edit_date <= 0:
        raise InvalidMessage(f"{field}.edit_date is missing")
    reply = message.get("reply_to_message")
    if reply is not None and not isinstance(reply, dict):
        raise InvalidMessage(f"{field}.reply_to_message is not an object")
    return IncomingMessage(
        update_id=update_id,
        update_kind=field,
        chat_id=read_id(chat, "id", f"{field}.chat"),
        chat_type=_chat_type(chat, field),
        chat_title=_chat_title(chat),
        message_id=message_id,
        date=_date(message, field),
        edit_date=edit_date,
        kind=message_kind(message),
        raw=message,
        thread_id=_optional_id(message, "message_thread_id", field),
        sender_id=_sender_id(message, field),
        reply_to_message_id=(
            read_id(reply, "message_id", f"{field}.reply_to_message", minimum=1)
            if reply is not None
            else None
        ),
        media_group_id=_media_group_id(message, field),
        migrate_to_chat_id=_optional_id(message, "migrate_to_chat_id", field),
        migrate_from_chat_id=_optional_id(message, "migrate_from_chat_id", field),
        media=read_media(message, field),
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


def read_id(container: Mapping[str, Any], key: str, where: str, *, minimum: int = -MAX_ID) -> int:
    """A Telegram id: "at most 52 significant bits", Telegram says; more is not from Telegram
    (and Firestore's emulator, like JavaScript, holds integers exactly only to 2^53)."""
    value = read_int(container, key, where, minimum=minimum)
    if value > MAX_ID:
        raise InvalidMessage(f"{where}.{key} is out of range")
    return value


def _optional_id(container: Mapping[str, Any], key: str, where: str) -> int | None:
    if container.get(key) is None:
        return None
    return read_id(container, key, where)


def _date(message: Mapping[str, Any], where: str) -> int:
    value = read_int(message, "date", where, minimum=0)
    if value > _MAX_DATE:
        raise InvalidMessage(f"{where}.date is out of range")
    return value


def _optional_date(container: Mapping[str, Any], key: str, where: str) -> int | None:
    if container.get(key) is None:
        return None
    value = read_int(container, key, where, minimum=0)
    if value > _MAX_DATE:
        raise InvalidMessage(f"{where}.{key} is out of range")
    return value


def _sender_id(message: Mapping[str, Any], where: str) -> int | None:
    """The sender: the chat it was sent on behalf of, else the user. Both are checked when
    both are present, so neither reaches the sealed record unvalidated."""
    found = None
    for key in ("from", "sender_chat"):
        sender = message.get(key)
        if sender is None:
            continue
        if not isinstance(sender, dict):
            raise InvalidMessage(f"{where}.{key} is not an object")
        found = read_id(sender, "id", f"{where}.{key}")
    return found


def _plain_text(value: str) -> bool:
    """Printable text that every store keeps as it is (PostgreSQL refuses NUL in text)."""
    return value.isprintable()


def _chat_type(chat: Mapping[str, Any], where: str) -> str:
    value = chat.get("type")
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"{where}.chat.type is missing")
    if len(value) > MAX_CHAT_TYPE or not _plain_text(value):
        raise InvalidMessage(f"{where}.chat.type is not a chat type")
    return value


def _media_group_id(message: Mapping[str, Any], where: str) -> str | None:
    value = message.get("media_group_id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"{where}.media_group_id must be a string")
    if len(value) > MAX_MEDIA_GROUP_ID or not _plain_text(value):
        raise InvalidMessage(f"{where}.media_group_id is not a media group id")
    return value


@dataclass(frozen=True)
class MediaRef:
    """The file a message carries, as the Bot API names it: ``file_id`` fetches it (with this
    bot's token only), ``file_unique_id`` is the same file for every bot and over time."""

    kind: str  # one of FILE_KINDS
    file_id: str
    file_unique_id: str
    file_size: int | None


# A file's fields that reach plain columns (the media record), checked like the index fields:
# its ids are refused (400, nothing stored) unless they are what the Bot API makes, base64url
# ASCII within the columns' widths; a size no file can have is unknown (the fetch asks getFile
# for the real one), as Telegram's sizes "have at most 52 significant bits". The rest of a
# file (mime_type, file_name, width, height, duration) stays in the sealed message only, and
# whoever reads it there checks it (a download's name, an export's fields).
MAX_FILE_ID = 256
MAX_FILE_UNIQUE_ID = 64
MAX_FILE_SIZE = MAX_ID
_BOT_API_ID = re.compile(r"[A-Za-z0-9_-]+")


def read_media(message: Mapping[str, Any], where: str) -> MediaRef | None:
    """The file worth keeping in a message: the largest size of a photo (Telegram sends
    several, smallest first), the file itself for the other kinds (not its thumbnail). None
    when the message has none, or only a file without a ``file_id`` (an imported export's,
    whose bytes come from beside the export). Raises InvalidMessage, naming the field, for
    ids the Bot API never makes: no store may be handed one."""
    for kind in FILE_KINDS:
        value = message.get(kind)
        if kind == "photo":
            sizes = [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []
            value = max(sizes, key=_photo_area, default=None)
        if isinstance(value, dict):
            return _media_ref(kind, value, f"{where}.{kind}")
    return None


def media_of(message: Mapping[str, Any]) -> MediaRef | None:
    """``read_media`` for a message already archived: None for a file that does not read as
    a Bot API file (never archived by now, but an old record may hold one)."""
    try:
        return read_media(message, "message")
    except InvalidMessage:
        return None


def _photo_area(size: Mapping[str, Any]) -> int:
    width, height = size.get("width"), size.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width * height
    return 0


def _media_ref(kind: str, file: Mapping[str, Any], where: str) -> MediaRef | None:
    file_id, unique_id, size = (
        file.get("file_id"),
        file.get("file_unique_id"),
        file.get("file_size"),
    )
    if file_id is None or file_id == "":
        return None
    if not _is_bot_api_id(file_id, MAX_FILE_ID):
        raise InvalidMessage(f"{where}.file_id is not a Bot API file id")
    # A blob is named after it, too.
    if not _is_bot_api_id(unique_id, MAX_FILE_UNIQUE_ID):
        raise InvalidMessage(f"{where}.file_unique_id is not a Bot API file id")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_SIZE:
        size = None
    return MediaRef(kind=kind, file_id=file_id, file_unique_id=unique_id, file_size=size)


def _is_bot_api_id(value: object, longest: int) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= longest and bool(_BOT_API_ID.fullmatch(value))
