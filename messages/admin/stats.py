"""A chat's statistics for its admin page: counted from what the store holds in the clear
(dates, kinds, sender ids, version counts, topics), never from a new plaintext column.

The counts are cached per chat for ``TTL`` seconds (Django's cache): a page seen again
within that time is not counted again, and new messages show once it expires (nothing
invalidates it sooner, on purpose: five minutes late is fine for statistics). The cache holds
numbers and ids only; names are opened for each page that shows them (``names``), for staff
who may read the chat, and never cached.

Whether a message was imported (a backfill) or received live is said only inside the sealed
message, so that count needs opening every message: it is made for readers only, and only
for chats up to ``OPEN_LIMIT`` messages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from django.core.cache import cache

from messages.reading import fields, opening
from messages.stores import get_store
from messages.stores.records import ChatRecord, MessageQuery
from messages.telegram import FILE_KINDS

TTL = 300
OPEN_LIMIT = 50_000
BATCH = 500
TOP = 10


@dataclass
class Counts:
    """What a walk over the chat's heads found. Hours are Unix hours (date // 3600), so a
    viewer's own time zone re-buckets them into days and hours of the day."""

    total: int = 0
    first_date: int | None = None
    last_date: int | None = None
    hours: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    senders: Counter[int] = field(default_factory=Counter)
    topics: Counter[int] = field(default_factory=Counter)
    edited: int = 0
    edits: int = 0
    replies: int = 0
    imported: int | None = None  # None: not counted (no permission, or too large a chat)


def counts(chat: ChatRecord, *, with_imported: bool) -> Counts:
    opened = with_imported and chat.message_count <= OPEN_LIMIT
    key = f"groupie:chat-stats:{chat.chat_id}:{int(opened)}"
    found = cache.get(key)
    if isinstance(found, Counts):
        return found
    made = _count(chat.chat_id, opened=opened)
    cache.set(key, made, TTL)
    return made


def _count(chat_id: int, *, opened: bool) -> Counts:
    store = get_store()
    made = Counts(imported=0 if opened else None)
    after: str | None = None
    while True:
        page = store.query(
            MessageQuery(chats=(chat_id,), descending=False, after=after, limit=BATCH)
        )
        for head in page.items:
            made.total += 1
            made.first_date = head.date if made.first_date is None else made.first_date
            made.last_date = head.date
            made.hours[head.date // 3600] += 1
            made.kinds[head.kind] += 1
            if head.sender_id is not None:
                made.senders[head.sender_id] += 1
            if head.thread_id is not None:
                made.topics[head.thread_id] += 1
            if head.edited:
                made.edited += 1
                made.edits += head.version_count - 1
            if head.reply_to_message_id is not None:
                made.replies += 1
        if opened and made.imported is not None:
            made.imported += sum(
                1
                for item in opening.open_messages(page.items)
                if item.opened.message and fields.imported_from(item.opened.message)
            )
        if not page.has_more:
            return made
        after = page.items[-1].sort_key


def per_day(made: Counts, zone: tzinfo) -> list[tuple[str, int]]:
    """Messages per calendar day in ``zone``, every day from the first to the last (quiet
    days as 0), as (``YYYY-MM-DD``, count)."""
    days: Counter[str] = Counter()
    for hour, n in made.hours.items():
        days[_local(hour * 3600, zone).strftime("%Y-%m-%d")] += n
    if not days:
        return []
    first = datetime.strptime(min(days), "%Y-%m-%d").replace(tzinfo=UTC)
    last = datetime.strptime(max(days), "%Y-%m-%d").replace(tzinfo=UTC)
    span = (last - first).days + 1
    every = [datetime.fromtimestamp(first.timestamp() + d * 86_400, tz=UTC) for d in range(span)]
    return [(d.strftime("%Y-%m-%d"), days[d.strftime("%Y-%m-%d")]) for d in every]


def per_hour(made: Counts, zone: tzinfo) -> list[tuple[str, int]]:
    """Messages by hour of the day (0 to 23) in ``zone``."""
    hours: Counter[int] = Counter()
    for hour, n in made.hours.items():
        hours[_local(hour * 3600, zone).hour] += n
    return [(f"{h:02d}", hours[h]) for h in range(24)]


def media_kinds(made: Counts) -> list[tuple[str, int]]:
    return [(k, made.kinds[k]) for k in FILE_KINDS if made.kinds[k]]


def names(chat_id: int, sender_ids: list[int]) -> dict[int, str]:
    """Each sender's name as their latest message in the chat gives it: one small query and
    one opened message per sender (for the top senders only)."""
    store = get_store()
    latest = []
    for sender in sender_ids:
        page = store.query(MessageQuery(chats=(chat_id,), user=sender, descending=True, limit=1))
        latest.extend(page.items)
    found: dict[int, str] = {}
    for item in opening.open_messages(latest):
        who = fields.sender(item.opened.message) if item.opened.message else None
        if who and item.stored.sender_id is not None:
            found[item.stored.sender_id] = display_name(who)
    return found


def display_name(who: dict[str, object]) -> str:
    name = " ".join(str(who[k]) for k in ("first_name", "last_name") if who.get(k))
    return name or (f"@{who['username']}" if who.get("username") else str(who.get("id")))


def _local(timestamp: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=zone)
