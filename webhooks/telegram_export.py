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
from datetime import UTC, datetime
from typing import IO, Any

import ijson

SOURCE = "telegram-desktop-export"
# The export's chat types, and the Bot API's.
CHAT_TYPES = {
    "private_supergroup": "supergroup",
    "public_supergroup": "supergroup",
    "private_channel": "channel",
    "public_channel": "channel",
    "private_group": "group",
    "personal_chat": "private",
    "bot_chat": "private",
    "saved_messages": "private",
}
# Export media_type → the Bot API's message field for that file.
MEDIA_FIELDS = {
    "voice_message": "voice",
    "video_message": "video_note",
    "video_file": "video",
    "audio_file": "audio",
    "animation": "animation",
    "sticker": "sticker",
}
# Export text_entities types the Bot API names otherwise.
ENTITY_TYPES = {"link": "url", "mention_name": "text_mention"}


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


# -- the other way: archived messages in Telegram Desktop's layout ----------------------------

EXPORT_CHAT_TYPES = {
    "supergroup": "private_supergroup",
    "channel": "private_channel",
    "group": "private_group",
    "private": "personal_chat",
}
EXPORT_MEDIA_TYPES = {field: media_type for media_type, field in MEDIA_FIELDS.items()}
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"


def export_chat_id(chat_id: int, chat_type: str) -> int:
    """The export's id for a Bot API chat id (the inverse of bot_api_chat_id)."""
    if chat_type in ("supergroup", "channel") and str(chat_id).startswith("-100"):
        return int(str(chat_id)[4:])
    return abs(chat_id)


def exported_chat(chat_id: int, chat_type: str, title: str) -> dict[str, Any]:
    return {
        "name": title,
        "type": EXPORT_CHAT_TYPES.get(chat_type, "private_supergroup"),
        "id": export_chat_id(chat_id, chat_type),
    }


def as_exported(message: dict[str, Any]) -> dict[str, Any]:
    """One archived Bot API message in Telegram Desktop's JSON layout (its latest version: the
    layout has no place for earlier ones)."""
    date = int(message["date"])
    out: dict[str, Any] = {
        "id": message["message_id"],
        "type": "message",
        "date": _iso(date),
        "date_unixtime": str(date),
    }
    if message.get("edit_date"):
        out["edited"] = _iso(int(message["edit_date"]))
        out["edited_unixtime"] = str(int(message["edit_date"]))
    sender, sender_chat = message.get("from"), message.get("sender_chat")
    if isinstance(sender_chat, dict):
        digits = str(sender_chat.get("id", "")).removeprefix("-100").removeprefix("-")
        out["from"], out["from_id"] = sender_chat.get("title", ""), f"channel{digits}"
    elif isinstance(sender, dict):
        names = [sender.get("first_name"), sender.get("last_name")]
        out["from"] = " ".join(n for n in names if n)
        out["from_id"] = f"user{sender.get('id')}"
    reply = message.get("reply_to_message")
    if isinstance(reply, dict) and reply.get("message_id"):
        out["reply_to_message_id"] = reply["message_id"]
    if message.get("message_thread_id"):
        out["message_thread_id"] = message["message_thread_id"]
    found = message.get("groupie_import")
    imported: dict[str, Any] = found if isinstance(found, dict) else {}
    _export_media(message, out, imported)
    if isinstance(message.get("poll"), dict):
        poll = message["poll"]
        out["poll"] = {
            "question": poll.get("question", ""),
            "answers": [{"text": o.get("text", "")} for o in poll.get("options", [])],
        }
    if isinstance(message.get("location"), dict):
        out["location_information"] = message["location"]
    if message.get("new_chat_title"):
        out.update(type="service", action="edit_group_title", title=message["new_chat_title"])
    elif isinstance(message.get("pinned_message"), dict):
        out.update(
            type="service",
            action="pin_message",
            message_id=message["pinned_message"].get("message_id"),
        )
    if out["type"] == "service":
        out["actor"], out["actor_id"] = out.pop("from", ""), out.pop("from_id", None)
    text = message.get("text", message.get("caption", ""))
    entities = message.get("entities", message.get("caption_entities", []))
    parts = _parts(
        text if isinstance(text, str) else "", entities if isinstance(entities, list) else []
    )
    out["text"] = (
        [p["text"] if p["type"] == "plain" else p for p in parts]
        if len(parts) != 1 or parts[0]["type"] != "plain"
        else parts[0]["text"]
    )
    out["text_entities"] = parts
    return out


def _iso(unixtime: int) -> str:
    return datetime.fromtimestamp(unixtime, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _export_media(message: dict[str, Any], out: dict[str, Any], imported: dict[str, Any]) -> None:
    path = imported.get("file") or NOT_INCLUDED
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        out["photo"] = path
        largest = photo[-1] if isinstance(photo[-1], dict) else {}
        out["width"], out["height"] = largest.get("width", 0), largest.get("height", 0)
        return
    for field in ("voice", "video_note", "video", "audio", "animation", "sticker", "document"):
        value = message.get(field)
        if not isinstance(value, dict):
            continue
        out["file"] = path
        if field in EXPORT_MEDIA_TYPES:
            out["media_type"] = EXPORT_MEDIA_TYPES[field]
        for key in ("mime_type", "width", "height", "file_name"):
            if value.get(key) is not None:
                out[key] = value[key]
        if value.get("duration") is not None:
            out["duration_seconds"] = value["duration"]
        if field == "sticker" and value.get("emoji"):
            out["sticker_emoji"] = value["emoji"]
        return


def _parts(text: str, entities: list[Any]) -> list[dict[str, Any]]:
    """``text`` cut into Telegram Desktop's text_entities at the entities' UTF-16 offsets."""
    units = text.encode("utf-16-le")
    reverse = {bot: export for export, bot in ENTITY_TYPES.items()}
    parts: list[dict[str, Any]] = []
    cursor = 0

    def piece(start: int, end: int) -> str:
        return units[start * 2 : end * 2].decode("utf-16-le", errors="replace")

    for entity in sorted(
        (e for e in entities if isinstance(e, dict)), key=lambda e: int(e.get("offset", 0))
    ):
        start, length = int(entity.get("offset", 0)), int(entity.get("length", 0))
        if start < cursor or length <= 0:
            continue  # nested or empty: the flat layout keeps the outer one
        if start > cursor:
            parts.append({"type": "plain", "text": piece(cursor, start)})
        part: dict[str, Any] = {
            "type": reverse.get(str(entity.get("type")), str(entity.get("type"))),
            "text": piece(start, start + length),
        }
        if entity.get("url"):
            part["href"] = entity["url"]
        if isinstance(entity.get("user"), dict):
            part["user_id"] = entity["user"].get("id")
        if entity.get("language"):
            part["language"] = entity["language"]
        parts.append(part)
        cursor = start + length
    if cursor * 2 < len(units) or not parts:
        parts.append({"type": "plain", "text": piece(cursor, len(units) // 2)})
    return parts
