"""Opened records as the admin's templates show them. ``opened`` is None for staff without the
decrypt permission: they get the metadata only."""

from __future__ import annotations

from typing import Any

from messages.reading import fields
from messages.reading.opening import Opened
from messages.stores.records import StoredMessage, StoredRevision


def _error(opened: Opened | None) -> str | None:
    # The error's kind only: its message is for logs, the page says what it means.
    return type(opened.error).__name__ if opened and opened.error else None


def row(item: StoredMessage, opened: Opened | None) -> dict[str, Any]:
    message = opened.message if opened else None
    return {
        "stored": item,
        "date": fields.iso_date(item.date),
        "sender": fields.sender(message) if message else None,
        "text": fields.text(message) if message else None,
        "summary": fields.summary(message) if message else None,
        "imported_from": fields.imported_from(message) if message else None,
        "media": fields.media(message) if message else None,
        "error": _error(opened),
    }


def revision(stored: StoredRevision, opened: Opened | None) -> dict[str, Any]:
    return {
        "stored": stored,
        "edit_date": fields.iso_edit_date(stored.edit_date),
        "text": fields.text(opened.message) if opened and opened.message else None,
        "error": _error(opened),
    }
