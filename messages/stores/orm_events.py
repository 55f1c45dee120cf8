"""ORMStore's chat events (``base.ChatEvents``): one row per event, written in one statement
that checks the chat key is active, as ``orm_writes`` does for a revision, with its pending
log leaf in the same transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Count

from crypto.chatkeys import ACTIVE
from messages.models import ChatEvent, ChatKey

# The same statements as a revision's: its pending leaf, and its chat's directory upsert.
from messages.stores.orm_writes import _UPSERT_CHAT, INSERT_LEAF
from messages.stores.records import (
    ChatSnapshot,
    EventPage,
    EventQuery,
    EventReseal,
    InactiveChatKey,
    PutOutcome,
    SealedEvent,
    event_sort_key,
)

_EVENT, _CHAT_KEY = ChatEvent._meta.db_table, ChatKey._meta.db_table
_COLUMNS = ("chat_id", "event_id", "kind", "date", "message_id", "sort_key", "key_version")
# A redelivery meets the natural key and inserts nothing; so does a record sealed with a key
# that is no longer active (told apart below, by looking for the event).
_INSERT_EVENT = f"""
    INSERT INTO {_EVENT} ({", ".join(_COLUMNS)}, envelope)
    SELECT %s, %s, %s, %s, %s, %s, %s, %s
    WHERE EXISTS (
        SELECT 1 FROM {_CHAT_KEY} WHERE chat_id = %s AND version = %s AND state = '{ACTIVE}'
    )
    ON CONFLICT (chat_id, sort_key) DO NOTHING
"""  # noqa: S608 - our own table and column names; every value is a parameter


class ORMChatEvents:
    def _put_event(self, event: SealedEvent) -> PutOutcome:
        values = [getattr(event, column) for column in _COLUMNS]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _INSERT_EVENT, [*values, event.envelope, event.chat_id, event.key_version]
            )
            if cursor.rowcount == 1:
                # Its log leaf in the same commit: an event is never stored without it.
                pending = event.pending_leaf(time.time_ns() // 1000)
                if pending is not None:
                    cursor.execute(INSERT_LEAF, (pending.key, pending.leaf, pending.created))
                return PutOutcome.CREATED
            stored = ChatEvent.objects.filter(chat_id=event.chat_id, sort_key=event.sort_key)
            if stored.exists():
                return PutOutcome.DUPLICATE
        raise InactiveChatKey(
            f"chat {event.chat_id} key version {event.key_version} is no longer active"
        )

    def _query_events(self, query: EventQuery) -> EventPage:
        rows = ChatEvent.objects.filter(chat_id=query.chat_id)
        if query.kinds:
            rows = rows.filter(kind__in=query.kinds)
        if query.message_ids:
            rows = rows.filter(message_id__in=query.message_ids)
        if query.after is not None:
            rows = rows.filter(
                **{"sort_key__lt" if query.descending else "sort_key__gt": query.after}
            )
        rows = rows.order_by("-sort_key" if query.descending else "sort_key")
        found = [_event(row) for row in rows.values(*_COLUMNS, "envelope")[: query.limit + 1]]
        return EventPage(items=found[: query.limit], has_more=len(found) > query.limit)

    def _note_event_chat(self, chat: ChatSnapshot, date: int) -> None:
        # The same upsert as a message's (its row's message_count is not what is shown: counts
        # come from the heads), so an event and a message racing on a new chat agree.
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT_CHAT, (chat.chat_id, chat.type, chat.sealed_title, date, date))

    def _count_events(self, chat_id: int, key_versions: set[int]) -> dict[int, int]:
        rows = ChatEvent.objects.filter(chat_id=chat_id, key_version__in=key_versions)
        counts = rows.values("key_version").annotate(n=Count("*")).order_by()
        return {row["key_version"]: row["n"] for row in counts}

    def _replace_event_envelopes(self, chat_id: int, reseals: Sequence[EventReseal]) -> int:
        changed = 0
        with transaction.atomic():
            for r in reseals:
                # Only where the event still holds what was opened: a compare-and-set.
                rows = ChatEvent.objects.filter(
                    chat_id=chat_id, sort_key=r.sort_key, envelope=r.old
                )
                changed += rows.update(envelope=r.new, key_version=r.key_version)
        return changed

    def _delete_events(self, chat_id: int, before: int | None) -> int:
        rows = ChatEvent.objects.filter(chat_id=chat_id)
        if before is not None:
            rows = rows.filter(sort_key__lt=event_sort_key(before, 0))
        deleted, _ = rows.delete()
        return deleted


def _event(values: dict[str, Any]) -> SealedEvent:
    values = dict(values)
    values.pop("sort_key")
    envelope = values.pop("envelope")
    return SealedEvent(**values, envelope=bytes(envelope))
