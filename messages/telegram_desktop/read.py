"""Reading: Telegram Desktop's JSON export ("Export chat history" → Machine-readable JSON) as
Bot API messages, for backfilling what was said before the bot joined.

The export is read as a stream (ijson): a 1 GB ``result.json`` never sits in memory. Both
layouts are read: one chat's export (``{"name", "type", "id", "messages": [...]}``) and the
whole account's (``{"chats": {"list": [chat, ...]}}``). Each message becomes the Bot API
Message object a webhook would have carried, so it goes through the same sealing path as live
traffic; the export's own fields the Bot API has no place for (the media file's relative path,
the sender's display name) travel in ``groupie_import``, which also marks the record as
imported. Chat ids become the Bot API's: ``-100`` before a supergroup's or channel's id, ``-``
before a basic group's, so imported history and live messages of a chat are one chat.

A message is held to the webhook's rules (``groupie.strictjson``: no key twice, no deeper
nesting than in an Update, finite numbers; then the webhook's own parser for its fields): one
that breaks them is refused by name and reason, and the rest of the export is read on. A file
that is not an export at all is refused before anything is archived.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from groupie import strictjson
from messages.telegram import MAX_ID, MAX_UPDATE_DEPTH
from messages.telegram_desktop.mappings import CHAT_TYPES, ENTITY_TYPES, MEDIA_FIELDS

SOURCE = "telegram-desktop-export"


class BadExport(ValueError):
    """Not a Telegram Desktop JSON export, or one broken where no message can be told apart
    from the next: the message says where. Nothing after that point is read."""


class RefusedMessage(ValueError):
    """One exported message that is not archived: the text names the reason (a field, a
    limit), never a value."""


@dataclass(frozen=True)
class ExportedChat:
    chat_id: int  # the Bot API's id
    type: str
    title: str


@dataclass(frozen=True)
class Exported:
    """One message of the export: the Bot API message it becomes, or why it is refused."""

    chat: ExportedChat
    position: int  # 1 for the chat's first message in the file
    message_id: int | None  # its id when it has one that reads as an id
    message: dict[str, Any] | None
    refused: str = ""

    @property
    def where(self) -> str:
        """The message, as a skip line names it: by id, else by its place in the file."""
        if self.message_id is not None:
            return f"chat {self.chat.chat_id}, message {self.message_id}"
        return f"chat {self.chat.chat_id}, message #{self.position} in the file (no id)"


def bot_api_chat_id(export_id: int, export_type: str) -> int:
    bot_type = CHAT_TYPES.get(export_type)
    if bot_type is None:
        raise BadExport("unknown chat type")
    if bot_type in ("supergroup", "channel"):
        chat_id = -int(f"100{export_id}")
    elif bot_type == "group":
        chat_id = -export_id
    else:
        chat_id = export_id
    if not 0 < abs(chat_id) <= MAX_ID:
        raise BadExport("the chat's id is out of range")
    return chat_id


NOT_AN_EXPORT = "not a Telegram Desktop JSON export"
READ_BYTES = 1024 * 1024
# An exported message sits where the Bot API's sits in an Update: one level further down.
MAX_MESSAGE_DEPTH = MAX_UPDATE_DEPTH - 1


def messages(stream: IO[bytes], path: str) -> Iterator[Exported]:
    """Every message of the export, streamed, as a Bot API message or refused with a reason.
    Raises BadExport for a file that is not an export (before any message, when it can be
    told from the start) or that breaks off."""
    try:
        yield from _messages(stream, path)
    except ijson.JSONError as exc:
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadExport(f"{path}: the export is not valid JSON ({said})") from None


def _messages(stream: IO[bytes], path: str) -> Iterator[Exported]:
    # ijson's reads of 64 KiB (its default) take minutes over one string of 50 MB, growing
    # with its square; 1 MiB reads take seconds.
    parser = ijson.parse(stream, use_float=True, buf_size=READ_BYTES)
    chat_fields: dict[str, Any] = {}
    chat: ExportedChat | None = None
    position = 0
    seen_list = False
    keys: list[set[str]] = []  # the keys of each object open around the messages
    for prefix, event, value in parser:
        if not keys and not seen_list and event != "start_map":
            raise BadExport(f"{path}: {NOT_AN_EXPORT}: it is not a JSON object")
        if event == "map_key":
            if value in keys[-1]:
                raise BadExport(f"{path}: {prefix or 'the file'} has the same key twice")
            keys[-1].add(value)
            continue
        if event == "start_map":
            keys.append(set())
        elif event == "end_map":
            keys.pop()
        base = "chats.list.item" if prefix.startswith("chats.list.item") else ""
        local = prefix[len(base) :].lstrip(".")
        if prefix == "chats.list" or local == "messages":
            if event not in ("start_array", "end_array"):
                raise BadExport(f"{path}: {NOT_AN_EXPORT}: {prefix} is not a list")
            if event == "start_array":
                seen_list = True
                if local == "messages":
                    chat = _chat(chat_fields, path)
        elif prefix == base and event == "start_map":
            chat_fields, chat, position = {}, None, 0
        elif prefix == base and base and event != "end_map":
            raise BadExport(f"{path}: a chat of chats.list is not an object")
        elif local in ("name", "type", "id") and event in ("string", "number"):
            chat_fields[local] = value
        elif local == "messages.item":
            if chat is None:
                raise BadExport(f"{path}: messages come before the chat's id and type")
            position += 1
            yield _one(chat, position, event, value, parser)
    if not seen_list:
        raise BadExport(f"{path}: {NOT_AN_EXPORT}: no messages list")


def _chat(fields: dict[str, Any], path: str) -> ExportedChat:
    try:
        export_id, export_type = int(fields["id"]), str(fields["type"])
    except (KeyError, TypeError, ValueError):
        raise BadExport(f"{path}: a chat without its id or type (is this a JSON export?)") from None
    try:
        chat_id = bot_api_chat_id(export_id, export_type)
    except BadExport as exc:
        raise BadExport(f"{path}: {exc}") from None
    title = str(fields.get("name") or "")
    return ExportedChat(chat_id, CHAT_TYPES[export_type], title)


def _one(
    chat: ExportedChat, position: int, event: str, value: Any, parser: Iterator[Any]
) -> Exported:
    """The message whose first event is ``event``, read to its end (even when refused) under
    the webhook's JSON rules (strictjson), then as the Bot API message it stands for."""
    found_id: list[Any] = []

    def events() -> Iterator[tuple[str, Any]]:
        for prefix, inner_event, inner_value in parser:
            if prefix.endswith("messages.item.id") and inner_event in ("number", "string"):
                found_id.append(inner_value)
            yield inner_event, inner_value

    try:
        exported = strictjson.build(event, value, events(), max_depth=MAX_MESSAGE_DEPTH)
    except strictjson.StrictJSONError as exc:
        return Exported(chat, position, _id_of(found_id[:1]), None, str(exc))
    if not isinstance(exported, dict):
        return Exported(chat, position, None, None, "not a JSON object")
    message_id = _id_of([exported.get("id")])
    if exported.get("type") not in ("message", "service"):
        refused = "its type is neither message nor service"
        return Exported(chat, position, message_id, None, refused)
    try:
        message = as_bot_api(exported, chat)
    except RefusedMessage as exc:
        return Exported(chat, position, message_id, None, str(exc))
    return Exported(chat, position, message_id, message)


def _id_of(found: list[Any]) -> int | None:
    """The message's id if it reads as one: a skip line names it (anything else in the field
    could be content)."""
    value = found[0] if found else None
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def as_bot_api(exported: dict[str, Any], chat: ExportedChat) -> dict[str, Any]:
    """One exported message as the Bot API Message object the webhook would have carried;
    raises RefusedMessage for one that cannot be read as a message. Its index fields are
    checked afterwards, by the parser the webhook uses."""
    message_id = _int(exported.get("id"), "id")
    date = _int(exported.get("date_unixtime"), "date_unixtime")
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": date,
        "chat": {"id": chat.chat_id, "type": chat.type, "title": chat.title},
    }
    imported: dict[str, Any] = {"source": SOURCE}
    sender = exported.get("from_id") or exported.get("actor_id")
    name = exported.get("from") or exported.get("actor")
    if isinstance(sender, str) and sender.startswith("user") and sender[4:].isdigit():
        message["from"] = {"id": int(sender[4:]), "is_bot": False, "first_name": name or "?"}
    elif isinstance(sender, str) and sender.startswith(("channel", "chat")):
        digits = sender.removeprefix("channel").removeprefix("chat")
        if digits.isdigit():
            message["sender_chat"] = {
                "id": -int(f"100{digits}"),
                "type": "channel",
                "title": name or "",
            }
    if exported.get("edited_unixtime"):
        message["edit_date"] = _int(exported["edited_unixtime"], "edited_unixtime")
    if isinstance(exported.get("reply_to_message_id"), int):
        message["reply_to_message"] = {"message_id": exported["reply_to_message_id"]}
    if isinstance(exported.get("message_thread_id"), int):
        message["message_thread_id"] = exported["message_thread_id"]
        message["is_topic_message"] = True
    text, entities = _text(exported)
    media = _media(exported, imported)
    if media is not None:
        field, value = media
        message[field] = value
        if text:
            message["caption"] = text
            if entities:
                message["caption_entities"] = entities
    elif text:
        message["text"] = text
        if entities:
            message["entities"] = entities
    if exported.get("type") == "service":
        imported["action"] = exported.get("action")
        if exported.get("action") == "edit_group_title" and exported.get("title"):
            message["new_chat_title"] = exported["title"]
        elif exported.get("action") == "pin_message":
            message["pinned_message"] = {"message_id": exported.get("message_id")}
    if isinstance(exported.get("poll"), dict):
        poll = exported["poll"]
        answers = poll.get("answers")
        message["poll"] = {
            "question": poll.get("question", ""),
            "options": [
                {"text": a.get("text", "")}
                for a in (answers if isinstance(answers, list) else [])
                if isinstance(a, dict)
            ],
        }
    if isinstance(exported.get("location_information"), dict):
        message["location"] = exported["location_information"]
    message["groupie_import"] = imported
    return message


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise RefusedMessage(f"{field} is not a number")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise RefusedMessage(f"{field} is missing or not a number") from None


def _text(exported: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and Bot API entities (UTF-16 offsets) from ``text_entities`` and
    ``text`` (a string, or a list of strings and entity parts). Telegram Desktop writes the
    same text in both (older versions only ``text``); when they differ, the message is
    refused rather than archived with one of them."""
    raw = exported.get("text", "")
    text, entities = _parts(
        [
            {"type": "plain", "text": p} if isinstance(p, str) else p
            for p in (raw if isinstance(raw, list) else [raw])
        ]
    )
    parts = exported.get("text_entities")
    if isinstance(parts, list):
        from_entities, entities = _parts(parts)
        if "text" in exported and from_entities != text:
            raise RefusedMessage("its text and text_entities differ")
        text = from_entities
    return text, entities


def _parts(parts: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    text, entities, offset = "", [], 0
    for part in parts:
        if not isinstance(part, dict):
            continue
        piece = str(part.get("text", ""))
        length = len(piece.encode("utf-16-le")) // 2
        kind = str(part.get("type", "plain"))
        if kind != "plain" and length:
            entity: dict[str, Any] = {
                "type": ENTITY_TYPES.get(kind, kind),
                "offset": offset,
                "length": length,
            }
            if kind == "text_link" and part.get("href"):
                entity["url"] = part["href"]
            if kind == "mention_name" and part.get("user_id"):
                user_id = _int(part["user_id"], "a text entity's user_id")
                entity["user"] = {"id": user_id, "is_bot": False, "first_name": piece}
            if kind == "pre" and part.get("language"):
                entity["language"] = part["language"]
            entities.append(entity)
        text += piece
        offset += length
    return text, entities


def _media(exported: dict[str, Any], imported: dict[str, Any]) -> tuple[str, Any] | None:
    """The Bot API field for the exported file. The bytes are not imported: the record keeps
    the export's relative path, in ``groupie_import.file``."""
    if exported.get("photo"):
        imported["file"] = _path(exported["photo"])
        size = {
            "file_id": "",
            "file_unique_id": "",
            "width": exported.get("width", 0),
            "height": exported.get("height", 0),
        }
        return "photo", [size]
    if exported.get("file") is None and exported.get("media_type") is None:
        return None
    imported["file"] = _path(exported.get("file"))
    field = MEDIA_FIELDS.get(str(exported.get("media_type")), "document")
    value: dict[str, Any] = {"file_id": "", "file_unique_id": ""}
    for key in ("mime_type", "duration_seconds", "width", "height", "file_name"):
        if exported.get(key) is not None:
            value["duration" if key == "duration_seconds" else key] = exported[key]
    if field == "sticker" and exported.get("sticker_emoji"):
        value["emoji"] = exported["sticker_emoji"]
    return field, value


def _path(value: Any) -> str | None:
    """The file's path beside result.json (or Telegram Desktop's note that it was left out)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RefusedMessage("its media path is not a string")
    if any(unicodedata.category(c) == "Cc" for c in value):
        # No file Telegram Desktop writes has one (a CR or LF would also end up in a URL).
        raise RefusedMessage("its media path holds control characters")
    return value
