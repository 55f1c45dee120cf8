"""Which chats are indexed, and building, re-keying and dropping a chat's index.

A chat's index is off until ``build_search_index --chat ID`` (or the admin) turns it on. From
then on each new revision of the chat carries its tokens into the store (``tokens_for``, on
the webhook's path: the switch is cached per process for ``GROUPIE_SEARCH_INDEX_CACHE_SECONDS``),
and ``build`` indexes what the chat held before. A build first waits until every process must
have seen the switch, so no revision falls between the two; it is resumable (it records its
position after each batch) and idempotent (a token is added at most once).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils import timezone
from django_tasks import task

from crypto import blindindex
from crypto.cache import TTLCache
from crypto.envelope import message_identity
from crypto.errors import CryptoError
from messages import sealing
from messages.models import SearchIndex
from messages.reading import fields
from messages.stores import get_store
from messages.stores.records import IndexEntry, SealedRevision

logger = logging.getLogger(__name__)
BATCH = 500
# Beyond the cache's lifetime, what a webhook write may take between reading the switch and
# committing its record.
GRACE_SECONDS = 5.0
_indexed: TTLCache[bool] = TTLCache(1.0, 20_000)


def _cache_seconds() -> float:
    return float(settings.GROUPIE_SEARCH_INDEX_CACHE_SECONDS)


def _forget(**kwargs: Any) -> None:
    _indexed.clear()


setting_changed.connect(_forget)


def is_indexed(chat_id: int) -> bool:
    """Whether new revisions of the chat carry search tokens (building or ready); cached."""
    if _cache_seconds() <= 0:
        return SearchIndex.objects.filter(chat_id=chat_id).exists()
    known = _indexed.get(chat_id)
    if known is None:
        known = SearchIndex.objects.filter(chat_id=chat_id).exists()
        _indexed.ttl = _cache_seconds()
        _indexed.set(chat_id, known)
    return known


def ready(chat_ids: Iterable[int]) -> set[int]:
    """The chats among ``chat_ids`` whose index is built, so searches may use it."""
    wanted = set(chat_ids)
    if not wanted:
        return set()
    rows = SearchIndex.objects.filter(state=SearchIndex.READY, chat_id__in=wanted)
    return set(rows.values_list("chat_id", flat=True))


def all_ready() -> set[int]:
    return set(
        SearchIndex.objects.filter(state=SearchIndex.READY).values_list("chat_id", flat=True)
    )


def text_of(plaintext: bytes) -> str | None:
    """The searchable text of a sealed message's plaintext: its text or caption."""
    message = json.loads(plaintext)
    return fields.text(message) if isinstance(message, dict) else None


def tokens_for(key: bytes, text: str | None) -> frozenset[bytes]:
    """The tokens of ``text`` under the index key derived from chat key ``key``."""
    return index_tokens(blindindex.index_key(key), text) if text else frozenset()


def index_tokens(index_key: bytes, text: str | None) -> frozenset[bytes]:
    """The tokens of ``text`` under an index key already derived (for many texts of a chat)."""
    return frozenset(blindindex.tokens(index_key, blindindex.terms(text))) if text else frozenset()


def turn_on(chat_id: int) -> tuple[SearchIndex, bool]:
    """Turns the chat's index on (building); returns it and whether it was off."""
    row, created = SearchIndex.objects.get_or_create(
        chat_id=chat_id, defaults={"enabled_at": timezone.now()}
    )
    _indexed.discard(chat_id)
    return row, created


def switch_delay() -> timedelta:
    """How long after a switch every process must have seen it."""
    seconds = _cache_seconds()
    return timedelta(seconds=seconds + GRACE_SECONDS if seconds > 0 else 0)


def switch_seen_at(row: SearchIndex) -> datetime:
    """When every process must be writing the chat's tokens with its new revisions."""
    return row.enabled_at + switch_delay()


def turn_off(chat_id: int) -> int:
    """Turns the chat's index off and deletes its tokens; returns how many were deleted.

    Processes that still have the switch cached may add a few tokens after this: call it
    again once ``GROUPIE_SEARCH_INDEX_CACHE_SECONDS`` have passed (``build_search_index
    --disable`` waits and does; the admin queues it)."""
    SearchIndex.objects.filter(chat_id=chat_id).delete()
    _indexed.discard(chat_id)
    return get_store().drop_search_tokens(chat_id)


@dataclass
class BuildResult:
    revisions: int = 0
    failed: list[str] = field(default_factory=list)


Step = Callable[[int], None]  # called with each batch's number of revisions


def build(
    chat_id: int, *, step: Step | None = None, wait: Callable[[float], None] = time.sleep
) -> BuildResult:
    """Indexes every revision the chat holds, from where an earlier run stopped, and marks the
    index ready. The chat's index must be on (``turn_on``)."""
    row = SearchIndex.objects.get(chat_id=chat_id)
    remaining = (switch_seen_at(row) - timezone.now()).total_seconds()
    if remaining > 0 and row.state == SearchIndex.BUILDING:
        wait(remaining)
    store = get_store()
    result = BuildResult()
    index_keys: dict[int, bytes | CryptoError] = {}  # by chat-key version
    after = (
        (row.resume_message_id, row.resume_edit_date)
        if row.resume_message_id is not None and row.resume_edit_date is not None
        else None
    )
    while True:
        batch = store.revisions(chat_id, after=after, limit=BATCH)
        if not batch:
            break
        store.add_search_tokens(chat_id, _entries(chat_id, batch, index_keys, result))
        after = batch[-1].position
        still_on = SearchIndex.objects.filter(chat_id=chat_id).update(
            resume_message_id=after[0],
            resume_edit_date=after[1],
            revisions_indexed=row.revisions_indexed + result.revisions,
        )
        if not still_on:  # turned off meanwhile: what this batch added goes too
            store.drop_search_tokens(chat_id)
            return result
        if step is not None:
            step(len(batch))
    SearchIndex.objects.filter(chat_id=chat_id).update(
        state=SearchIndex.READY,
        built_at=timezone.now(),
        resume_message_id=None,
        resume_edit_date=None,
        revisions_indexed=row.revisions_indexed + result.revisions,
    )
    return result


def _entries(
    chat_id: int,
    batch: list[SealedRevision],
    keys: dict[int, bytes | CryptoError],
    result: BuildResult,
) -> list[IndexEntry]:
    """The tokens of each revision in ``batch``, under the key version it is sealed with.
    ``keys`` keeps each version's index key (or why it has none) from batch to batch."""
    missing = {r.key_version for r in batch} - keys.keys()
    if missing:
        found = sealing.chat_keys().keys_for((chat_id, v) for v in missing)
        for version in missing:
            key = found[chat_id, version]
            keys[version] = key if isinstance(key, CryptoError) else blindindex.index_key(key)
    identities = [message_identity(chat_id, r.message_id, r.edit_date) for r in batch]
    opened = sealing.open_many([(i, r.envelope) for i, r in zip(identities, batch, strict=True)])
    merged: dict[tuple[int, int], set[bytes]] = {}
    for revision, plaintext in zip(batch, opened, strict=True):
        key = keys[revision.key_version]
        if isinstance(plaintext, CryptoError) or isinstance(key, CryptoError):
            error = plaintext if isinstance(plaintext, CryptoError) else key
            result.failed.append(
                f"{chat_id}:{revision.message_id} version of {revision.edit_date}: "
                f"{type(error).__name__}"
            )
            continue
        result.revisions += 1
        tokens = index_tokens(key, text_of(plaintext))
        merged.setdefault((revision.message_id, revision.key_version), set()).update(tokens)
    return [
        IndexEntry(message_id, version, frozenset(tokens))
        for (message_id, version), tokens in merged.items()
        if tokens
    ]


@task()
def build_index(chat_id: int) -> str:
    """The admin's "turn on": builds the chat's index in the background (resumable: a retry
    or ``build_search_index --chat`` continues where this stopped)."""
    if not SearchIndex.objects.filter(chat_id=chat_id).exists():
        return "off"  # turned off again before the build ran
    result = build(chat_id)
    logger.info(
        "search index built",
        extra={"chat_id": chat_id, "revisions": result.revisions, "failed": len(result.failed)},
    )
    return "ready"


@task()
def drop_late_tokens(chat_id: int) -> int:
    """After the admin's "turn off": deletes tokens that processes still holding the switch
    added since, unless the index was turned on again meanwhile."""
    if SearchIndex.objects.filter(chat_id=chat_id).exists():
        return 0
    return get_store().drop_search_tokens(chat_id)


def turn_on_in_background(chat_id: int) -> bool:
    """Turns the chat's index on and queues its build (run once every process has seen the
    switch); returns False if it already was on."""
    row, created = turn_on(chat_id)
    if created:
        build_index.using(run_after=switch_seen_at(row)).enqueue(chat_id)
    return created


def turn_off_in_background(chat_id: int) -> int:
    """Turns the chat's index off, deletes its tokens now and queues a second sweep for once
    every process has seen the switch."""
    dropped = turn_off(chat_id)
    later = timezone.now() + switch_delay()
    drop_late_tokens.using(run_after=later).enqueue(chat_id)
    return dropped
