"""Writing: archived Bot API messages in Telegram Desktop's JSON export layout.

Written by export_messages and the API's export (``format=telegram``); ``read`` (beside it)
reads it back. A message is its latest version: the layout has no place for earlier ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from messages.telegram_desktop.mappings import (
    EXPORT_CHAT_TYPES,
    EXPORT_ENTITY_TYPES,
    EXPORT_MEDIA_TYPES,
    NOT_INCLUDED,
    export_chat_id,
)


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
            "type": EXPORT_ENTITY_TYPES.get(str(entity.get("type")), str(entity.get("type"))),
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
