"""Telegram Desktop's JSON export ("Export chat history" → Machine-readable JSON) as Bot API
messages, for backfilling what was said before the bot joined.

The export is read as a stream (ijson): a 1 GB ``result.json`` never sits in memory. Both
layouts are read: one chat's export (``{"name", "type", "id", "messages": [...]}``) and the
whole account's (``{"chats": {"list": [chat, ...]}}``). Each message becomes the Bot API
Message object a webhook would have carried, so it goes through the same sealing path as live
traffic; the export's own fields the Bot API has no place for (the media file's relative path,
the sender's display name) travel in ``groupie_import``, which also marks the record as
imported. Chat ids become the Bot API's: ``-100`` before a supergroup's or channel's id, ``-``
before a basic group's, so imported history and live messages of a chat are one chat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from messages.reading.as_telegram import CHAT_TYPES, ENTITY_TYPES, MEDIA_FIELDS

SOURCE = "telegram-desktop-export"


class BadExport(ValueError):
    """Not a Telegram Desktop JSON export, or a message of it that cannot be read: the message
    says where."""


@dataclass(frozen=True)
class ExportedChat:
    chat_id: int  # the Bot API's id
    type: str
    title: str


def bot_api_chat_id(export_id: int, export_type: str) -> int:
    bot_type = CHAT_TYPES.get(export_type)
    if bot_type is None:
        raise BadExport(f"unknown chat type {export_type!r}")
    if bot_type in ("supergroup", "channel"):
        return -int(f"100{export_id}")
    if bot_type == "group":
        return -export_id
    return export_id


def messages(stream: IO[bytes], path: str) -> Iterator[tuple[ExportedChat, int, dict[str, Any]]]:
    """(chat, position, Bot API message) for every message in the export, streamed."""
    try:
        yield from _messages(stream, path)
    except ijson.JSONError as exc:
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadExport(f"{path}: the export is not valid JSON ({said})") from None


def _messages(stream: IO[bytes], path: str) -> Iterator[tuple[ExportedChat, int, dict[str, Any]]]:
    parser = ijson.parse(stream, use_float=True)
    chat_fields: dict[str, Any] = {}
    chat: ExportedChat | None = None
    position = 0
    for prefix, event, value in parser:
        base = "chats.list.item" if prefix.startswith("chats.list.item") else ""
        local = prefix[len(base) :].lstrip(".")
        if event == "start_map" and prefix == base:
            chat_fields, chat, position = {}, None, 0
        elif local in ("name", "type", "id") and event in ("string", "number"):
            chat_fields[local] = value
        elif local == "messages" and event == "start_array":
            chat = _chat(chat_fields, path)
        elif local == "messages.item" and event == "start_map":
            if chat is None:
                raise BadExport(f"{path}: messages come before the chat's id and type")
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            depth = 1
            for _, inner_event, inner_value in parser:
                builder.event(inner_event, inner_value)
                if inner_event in ("start_map", "start_array"):
                    depth += 1
                elif inner_event in ("end_map", "end_array"):
                    depth -= 1
                    if depth == 0:
                        break
            exported = builder.value
            where = f"{path}: chat {chat.chat_id}, message #{position}"
            position += 1
            if exported.get("type") not in ("message", "service"):
                continue
            yield chat, position, as_bot_api(exported, chat, where)


def _chat(fields: dict[str, Any], path: str) -> ExportedChat:
    try:
        export_id, export_type = int(fields["id"]), str(fields["type"])
    except (KeyError, TypeError, ValueError):
        raise BadExport(f"{path}: a chat without its id or type (is this a JSON export?)") from None
    title = str(fields.get("name") or "")
    return ExportedChat(bot_api_chat_id(export_id, export_type), CHAT_TYPES[export_type], title)


def as_bot_api(exported: dict[str, Any], chat: ExportedChat, where: str) -> dict[str, Any]:
    """One exported message as the Bot API Message object the webhook would have carried."""
    try:
        message_id = int(exported["id"])
        date = int(exported["date_unixtime"])
    except (KeyError, TypeError, ValueError):
        raise BadExport(f"{where}: no id or date_unixtime") from None
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
        message["edit_date"] = int(exported["edited_unixtime"])
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
        message["poll"] = {
            "question": poll.get("question", ""),
            "options": [{"text": a.get("text", "")} for a in poll.get("answers", [])],
        }
    if isinstance(exported.get("location_information"), dict):
        message["location"] = exported["location_information"]
    message["groupie_import"] = imported
    return message


def _text(exported: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and Bot API entities (UTF-16 offsets) from ``text_entities`` or
    ``text`` (a string, or a list of strings and entity parts)."""
    parts = exported.get("text_entities")
    if not isinstance(parts, list):
        raw = exported.get("text", "")
        parts = [
            {"type": "plain", "text": p} if isinstance(p, str) else p
            for p in (raw if isinstance(raw, list) else [raw])
        ]
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
                entity["user"] = {"id": int(part["user_id"]), "is_bot": False, "first_name": piece}
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
        imported["file"] = exported["photo"]
        size = {
            "file_id": "",
            "file_unique_id": "",
            "width": exported.get("width", 0),
            "height": exported.get("height", 0),
        }
        return "photo", [size]
    if exported.get("file") is None and exported.get("media_type") is None:
        return None
    imported["file"] = exported.get("file")
    field = MEDIA_FIELDS.get(str(exported.get("media_type")), "document")
    value: dict[str, Any] = {"file_id": "", "file_unique_id": ""}
    for key in ("mime_type", "duration_seconds", "width", "height", "file_name"):
        if exported.get(key) is not None:
            value["duration" if key == "duration_seconds" else key] = exported[key]
    if field == "sticker" and exported.get("sticker_emoji"):
        value["emoji"] = exported["sticker_emoji"]
    return field, value
