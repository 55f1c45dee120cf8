"""The read path for chat events: fetch them sealed, open them in batches, and say what they
mean (a message's reactions, a membership change, the bot's own status in a chat).

An event that fails to open is left out of reactions and statuses and shown with its typed
error in event lists (never as ciphertext); it is counted and logged (ids only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.envelope import event_identity
from crypto.errors import CryptoError
from groupie import strictjson
from messages import sealing
from messages.reading.fields import iso_date
from messages.stores import get_store
from messages.stores.records import EventPage, EventQuery, StoredEvent
from messages.telegram_events import (
    MEMBER_KINDS,
    MY_CHAT_MEMBER,
    REACTION_KINDS,
    bot_status_of,
    member_change,
    reactions_of,
)

logger = logging.getLogger(__name__)
_SORT_KEY = re.compile(r"\d{11}\.\d{20}")


def check_sort_key(value: str) -> None:
    """Raises ValueError unless ``value`` is an event's sort_key (a page cursor's)."""
    if not _SORT_KEY.fullmatch(value):
        raise ValueError("not an event position")


# Reactions are read for a page of messages at once, in batches of this many events.
REACTION_BATCH = 1000


@dataclass(frozen=True)
class OpenedEvent:
    stored: StoredEvent
    event: dict[str, Any] | None
    error: CryptoError | None = None


def open_events(events: Sequence[StoredEvent]) -> list[OpenedEvent]:
    results = sealing.open_many(
        [(event_identity(e.chat_id, e.kind, e.event_id, e.date), e.envelope) for e in events]
    )
    opened = []
    for stored, result in zip(events, results, strict=True):
        if isinstance(result, CryptoError):
            logger.warning(
                "chat event %s:%s failed to open: %s",
                stored.chat_id,
                stored.event_id,
                type(result).__name__,
            )
            opened.append(OpenedEvent(stored, None, result))
        else:
            opened.append(OpenedEvent(stored, strictjson.loads_stored(result)))
    return opened


def reactions(chat_id: int, message_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each message's reactions (``telegram_events.reactions_of``); a message without any is
    left out. One store query per REACTION_BATCH events, however many messages."""
    wanted = tuple(sorted(set(message_ids)))
    if not wanted:
        return {}
    by_message: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    events = list(
        get_store().iter_events(
            chat_id, kinds=REACTION_KINDS, message_ids=wanted, batch_size=REACTION_BATCH
        )
    )
    for item in open_events(events):
        if item.event is not None:
            by_message.setdefault(item.stored.message_id, []).append((item.stored.kind, item.event))
    found = {mid: reactions_of(events) for mid, events in by_message.items()}
    return {mid: shown for mid, shown in found.items() if shown}


def member_events(
    chat_id: int, *, descending: bool = True, after: str | None = None, limit: int = 50
) -> tuple[EventPage, list[dict[str, Any]]]:
    """A page of the chat's membership events, each as ``{date, kind, user, old_status,
    new_status, by}`` (``error`` set, the rest None, for one that failed to open)."""
    page = get_store().query_events(
        EventQuery(chat_id, kinds=MEMBER_KINDS, descending=descending, after=after, limit=limit)
    )
    shown = []
    for item in open_events(page.items):
        body: dict[str, Any] = {"kind": item.stored.kind, "user": None, "old_status": None}
        body.update(new_status=None, by=None)
        if item.event is not None:
            body.update(member_change(item.stored.kind, item.event))
        shown.append(
            {
                "date": iso_date(item.stored.date),
                **body,
                "error": None if item.error is None else type(item.error).__name__,
            }
        )
    return page, shown


@dataclass(frozen=True)
class BotMembership:
    status: str | None  # member, administrator, restricted, left, kicked; None: never told
    date: int | None  # when Telegram said so


def bot_membership(chat_id: int) -> BotMembership:
    """The bot's status in the chat as the latest my_chat_member event archived says."""
    page = get_store().query_events(
        EventQuery(chat_id, kinds=(MY_CHAT_MEMBER,), descending=True, limit=1)
    )
    for item in open_events(page.items):
        if item.event is not None:
            return BotMembership(bot_status_of(item.event), item.stored.date)
    return BotMembership(None, None)


def last_event_date(chat_id: int) -> int | None:
    page = get_store().query_events(EventQuery(chat_id, descending=True, limit=1))
    return page.items[0].date if page.items else None
