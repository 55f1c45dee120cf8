"""A page of a chat's messages laid out as a conversation: by day, oldest first, each message
with its sender, the quote of the message it answers, its files, and albums (Telegram's
``media_group_id``) kept together. Shared by the chat page and the HTML export.

``opened`` is None for staff who may not read the chat: they get the layout with metadata
only (dates, kinds, ids), never a name, a quote or a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from messages.admin.stats import display_name
from messages.models import MediaFile
from messages.reading import as_admin, fields, opening
from messages.reading.opening import Opened
from messages.stores import get_store
from messages.stores.records import StoredMessage

QUOTE_CHARS = 90


@dataclass
class Entry:
    stored: StoredMessage
    row: dict[str, Any]
    local: datetime
    name: str | None = None  # the sender's display name (readers only)
    initial: str = "?"
    service: bool = False
    reply: dict[str, Any] | None = None
    files: list[MediaFile] = field(default_factory=list)


@dataclass
class Block:
    """One message, or an album's messages together."""

    entries: list[Entry]

    @property
    def album(self) -> bool:
        return len(self.entries) > 1

    @property
    def first(self) -> Entry:
        return self.entries[0]


@dataclass
class Day:
    day: datetime
    blocks: list[Block]


def layout(
    chat_id: int,
    items: Sequence[StoredMessage],
    opened: Sequence[Opened] | None,
    *,
    with_files: bool = True,
) -> list[Day]:
    """``items`` (in any order) as days of blocks, oldest first."""
    each: list[Opened | None] = list(opened) if opened is not None else [None] * len(items)
    pairs = sorted(zip(items, each, strict=True), key=lambda p: p[0].sort_key)
    quotes = _quotes(chat_id, [s for s, _ in pairs], reading=opened is not None)
    files = _files(chat_id, [s.message_id for s, _ in pairs]) if with_files else {}
    days: list[Day] = []
    for stored, opened_one in pairs:
        entry = _entry(stored, opened_one)
        entry.reply = quotes.get(stored.reply_to_message_id) if stored.reply_to_message_id else None
        if entry.reply is None and stored.reply_to_message_id:
            entry.reply = {"message_id": stored.reply_to_message_id, "exists": False}
        entry.files = files.get(stored.message_id, [])
        if not days or days[-1].day.date() != entry.local.date():
            days.append(Day(entry.local, []))
        blocks = days[-1].blocks
        group = stored.media_group_id
        if group and blocks and blocks[-1].first.stored.media_group_id == group:
            blocks[-1].entries.append(entry)
        else:
            blocks.append(Block([entry]))
    return days


def _entry(stored: StoredMessage, opened: Opened | None) -> Entry:
    row = as_admin.row(stored, opened)
    entry = Entry(
        stored=stored,
        row=row,
        local=timezone.localtime(datetime.fromtimestamp(stored.date, tz=UTC)),
        service=stored.kind == "service",
    )
    if row["sender"]:
        entry.name = display_name(row["sender"])
        entry.initial = (entry.name.strip("@") or "?")[0].upper()
    return entry


def _quotes(chat_id: int, items: list[StoredMessage], *, reading: bool) -> dict[int, Any]:
    """The start of each message answered on this page, and who wrote it."""
    wanted = {s.reply_to_message_id for s in items if s.reply_to_message_id}
    if not wanted:
        return {}
    found = get_store().get_messages([(chat_id, m) for m in wanted])
    if not reading:
        return {m: {"message_id": m, "exists": True} for (_, m) in found}
    quotes: dict[int, Any] = {}
    for item in opening.open_messages(list(found.values())):
        message = item.opened.message or {}
        who = fields.sender(message) if message else None
        said = fields.text(message) or fields.summary(message) or ""
        if not said and message:
            media = fields.media(message)
            said = f"[{media['type']}]" if media else ""
        quotes[item.stored.message_id] = {
            "message_id": item.stored.message_id,
            "exists": True,
            "name": display_name(who) if who else None,
            "text": said[:QUOTE_CHARS] + ("…" if len(said) > QUOTE_CHARS else ""),
            "error": item.opened.error is not None,
        }
    return quotes


def _files(chat_id: int, message_ids: list[int]) -> dict[int, list[MediaFile]]:
    found: dict[int, list[MediaFile]] = {}
    rows = MediaFile.objects.filter(chat_id=chat_id, message_id__in=message_ids).order_by(
        "-created_at"
    )
    for row in rows:
        found.setdefault(row.message_id, []).append(row)
    # A message shows its latest file only (an edit that replaced the photo keeps the old one
    # on the message's own page).
    return {m: rows_[:1] for m, rows_ in found.items()}
