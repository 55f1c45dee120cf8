"""Opened records as the API's JSON: one place, shared by lists, details, batch and export."""

from __future__ import annotations

from typing import Any

from crypto.errors import CryptoError
from messages.reading import fields
from messages.reading.opening import OpenedMessage, OpenedRevision
from messages.stores.records import ChatRecord


def error(exc: CryptoError | None) -> dict[str, str] | None:
    if exc is None:
        return None
    return {"type": type(exc).__name__, "detail": str(exc)}


def message_id(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def message(item: OpenedMessage) -> dict[str, Any]:
    stored, raw = item.stored, item.opened.message
    return {
        "id": message_id(stored.chat_id, stored.message_id),
        "chat_id": stored.chat_id,
        "message_id": stored.message_id,
        "thread_id": stored.thread_id,
        "sender": fields.sender(raw) if raw else None,
        "date": fields.iso_date(stored.date),
        "edit_date": fields.iso_edit_date(stored.edit_date),
        "kind": stored.kind,
        "text": fields.text(raw) if raw else None,
        "entities": fields.entities(raw) if raw else [],
        "media": fields.media(raw) if raw else None,
        "reply_to_message_id": stored.reply_to_message_id,
        "media_group_id": stored.media_group_id,
        # The head is the latest revision, so its version number is the count.
        "version": stored.version_count,
        "versions_count": stored.version_count,
        "imported_from": fields.imported_from(raw) if raw else None,
        "error": error(item.opened.error),
    }


def message_detail(item: OpenedMessage, revisions: list[OpenedRevision]) -> dict[str, Any]:
    return {
        **message(item),
        "versions": [
            {
                "version": r.stored.version,
                "edit_date": fields.iso_edit_date(r.stored.edit_date),
                "text": fields.text(r.opened.message) if r.opened.message else None,
                "error": error(r.opened.error),
            }
            for r in revisions
        ],
        "raw": item.opened.message,
    }


def chat(record: ChatRecord, title: str | None, title_error: CryptoError | None) -> dict[str, Any]:
    return {
        "id": record.chat_id,
        "type": record.type,
        "title": title,
        "message_count": record.message_count,
        "first_date": fields.iso_date(record.first_date),
        "last_date": fields.iso_date(record.last_date),
        "migrated_to_chat_id": record.migrated_to_chat_id,
        "migrated_from_chat_id": record.migrated_from_chat_id,
        "error": error(title_error),
    }
