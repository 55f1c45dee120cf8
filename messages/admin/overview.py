"""Where things stand, on the admin's index: the chats by last activity, messages dated
today, media waiting or failed, search indexes, and the bot's status in each chat.

"Today" starts at midnight in the viewer's time zone. The store keeps a message count per
chat, not per day, so today's messages are counted from the chat directory: for each chat
with a message since midnight, its count minus ``count_messages_before(midnight)`` (one
count query per chat active today; none for the others). They are messages *dated* today
(Telegram's date), which is when they were archived for a bot that receives them live.

The chat directory is read once per view (as the chat list does); the counts made from it and
from the database are cached for ``TTL`` seconds (numbers only: a cached sealed title could
outlive its key version). The bot's status is read
from the sealed my_chat_member events, so it is opened only for chats the viewer may read
(``access.readable_chats``): staff without the permission cause no keyring call. Titles are
opened for the page (``names``) and never cached."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone

from messages.admin import names
from messages.admin.access import readable_chats, visible_chats
from messages.media import status as media_status
from messages.models import SearchIndex
from messages.reading import events
from messages.stores import get_store
from messages.stores.records import ChatRecord

TTL = 60
SHOWN = 10
REMOVED = ("left", "kicked")
BLIND = ("member", "restricted")


@dataclass
class Numbers:
    """What every viewer may see: counts, cached."""

    today: int
    media: dict[str, int]
    indexes: dict[str, int]


@dataclass
class ChatLine:
    chat: ChatRecord
    title: str | None
    bot: str | None  # None: not archived, or not for this viewer
    warning: str | None = None


@dataclass
class Overview:
    since: datetime
    numbers: Numbers
    chats: int
    lines: list[ChatLine]
    reading: bool
    warnings: int | None = None  # None: the viewer may read no chat
    statuses: dict[str, int] = field(default_factory=dict)


def midnight() -> datetime:
    """Today's start in the active (the viewer's) time zone."""
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def numbers(since: int, chats: list[ChatRecord], scope: str = "all") -> Numbers:
    key = f"groupie:overview:{since}:{scope}"
    found = cache.get(key)
    if isinstance(found, Numbers):
        return found
    store = get_store()
    today = sum(
        c.message_count - store.count_messages_before(c.chat_id, since)
        for c in chats
        if c.last_date >= since
    )
    rows = SearchIndex.objects.values_list("state").annotate(n=Count("pk"))
    indexes = dict.fromkeys((state for state, _ in SearchIndex.STATES), 0)
    indexes.update(dict(rows.values_list("state", "n")))
    made = Numbers(today=today, media=media_status.counts(), indexes=indexes)
    cache.set(key, made, TTL)
    return made


def bot_statuses(chats: list[ChatRecord]) -> dict[int, str | None]:
    """The bot's latest status per chat, each cached for ``TTL`` (a store query and an
    opened event for each chat not cached)."""
    keys = {c.chat_id: f"groupie:bot-status:{c.chat_id}" for c in chats}
    cached = cache.get_many(list(keys.values()))
    found: dict[int, str | None] = {}
    for chat_id, key in keys.items():
        if key in cached:
            found[chat_id] = cached[key] or None
        else:
            found[chat_id] = events.bot_membership(chat_id).status
            cache.set(key, found[chat_id] or "", TTL)
    return found


def warning(chat: ChatRecord, status: str | None) -> str | None:
    """What the chat page warns of: the bot removed, or a group where it is no admin (with
    privacy mode on it then sees commands and replies only)."""
    if status in REMOVED:
        return "removed"
    if status in BLIND and chat.type != "private":
        return "blind"
    return None


def overview(request: HttpRequest) -> Overview:
    start = midnight()
    # A reader limited to some chats sees only those, as if the others did not exist.
    visible = visible_chats(request)
    chats = sorted(
        (c for c in get_store().list_chats() if c.chat_id in visible),
        key=lambda c: (-c.last_date, c.chat_id),
    )
    scope = (
        hashlib.sha256(",".join(map(str, sorted(visible))).encode()).hexdigest()[:16]
        if isinstance(visible, frozenset)
        else "all"
    )
    found = numbers(int(start.timestamp()), chats, scope)
    readable = readable_chats(getattr(request, "user", None))
    mine = [c for c in chats if c.chat_id in readable]
    statuses = bot_statuses(mine) if mine else {}
    top = chats[:SHOWN]
    titles = names.titles(request, (c.chat_id for c in top), page="index", chats=top)
    lines = [ChatLine(c, titles.get(c.chat_id), statuses.get(c.chat_id), None) for c in top]
    for line in lines:
        line.warning = warning(line.chat, line.bot)
    warned = [c for c in mine if warning(c, statuses.get(c.chat_id))]
    by_status: dict[str, int] = {}
    for chat_id in statuses:
        name = statuses[chat_id] or "unknown"
        by_status[name] = by_status.get(name, 0) + 1
    return Overview(
        since=start,
        numbers=found,
        chats=len(chats),
        lines=lines,
        reading=bool(mine),
        warnings=len(warned) if mine else None,
        statuses=dict(sorted(by_status.items())),
    )
