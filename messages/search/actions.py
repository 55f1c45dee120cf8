"""Turning a chat's search index on (and building it) or off, as operator actions.

The admin's buttons and build_search_index call these: ``do_turn_on_search_index`` and
``do_turn_off_search_index`` for one chat from the admin (the build and the late sweep queued
as tasks), ``do_build_search_indexes`` and ``do_drop_search_indexes`` for the command (the
work done in the run, waiting for every process to see the switch). Each writes one entry per
chat, "search-index-on" or "search-index-off", whichever surface asked, and counts it.
"""

from __future__ import annotations

import sys
import time

from django.http import HttpRequest
from django.utils import timezone

from crypto.errors import KeyringError
from groupie.commands import counted
from groupie.progress import Progress
from messages import audit
from messages.models import SearchIndex
from messages.outcome import Outcome, Refused, Stopped
from messages.search import index
from messages.stores import get_store
from messages.stores.records import StoreError

MAX_FAILURE_LINES = 20
ON, OFF = "search-index-on", "search-index-off"


def do_turn_on_search_index(chat_id: int, *, request: HttpRequest | None = None) -> bool:
    """Turns the index on and queues its build; False if it already was on. Audited."""
    created = index.turn_on_in_background(chat_id)
    audit.record_action(ON, request=request, chat_id=chat_id)
    return created


def do_turn_off_search_index(chat_id: int, *, request: HttpRequest | None = None) -> int:
    """Turns the index off, deletes its tokens (a task sweeps late ones); returns how many."""
    dropped = index.turn_off_in_background(chat_id)
    audit.record_action(OFF, request=request, chat_id=chat_id, filters={"tokens": dropped})
    return dropped


def do_build_search_indexes(
    chat_ids: list[int], *, dry_run: bool = False, progress: Progress | None = None
) -> Outcome:
    """Turns on and builds the index of ``chat_ids`` (every chat if empty), here and now."""
    progress = progress or Progress(sys.stderr, enabled=False)
    store = get_store()
    try:
        known = {c.chat_id for c in store.list_chats()}
        unknown = [c for c in chat_ids if c not in known]
        if unknown:
            raise Refused(
                f"not in the archive: chat {', '.join(map(str, unknown))} (the admin's "
                "Archive → Chats, or GET /api/v1/chats/, lists the chats and their ids)"
            )
        chats = chat_ids or sorted(known)
        states = dict(SearchIndex.objects.filter(chat_id__in=chats).values_list("chat_id", "state"))
        built = [c for c in chats if states.get(c) == SearchIndex.READY]
        to_build = [c for c in chats if c not in built]
        notes = [f"chat {chat_id}: the index is already built" for chat_id in built]
        if dry_run:
            versions = sum(n for c in to_build for n in store.count_revisions(c).values())
            return Outcome(
                f"build_search_index: {counted(len(to_build), 'chat')} would be indexed "
                f"({counted(versions, 'message version')}), {len(built)} already built; dry "
                "run, nothing changed",
                notes=notes,
            )
        # Every chat on first, then one wait for all of them: each process must have seen the
        # switches before the builds read what is stored.
        rows = [index.turn_on(chat_id)[0] for chat_id in to_build]
        _wait_for_switch(rows, progress)
        failed: list[str] = []
        versions = tokens = 0
        for chat_id in to_build:
            left = sum(store.count_revisions(chat_id).values())
            done = SearchIndex.objects.get(chat_id=chat_id).revisions_indexed
            with progress.counting(max(left - done, 0), f"versions of chat {chat_id}") as add:
                result = index.build(chat_id, step=add)
            failed += result.failed
            versions += result.revisions
            count = sum(store.count_search_tokens(chat_id).values())
            tokens += count
            audit.record_action(
                ON,
                chat_id=chat_id,
                filters={"revisions": result.revisions, "failed": len(result.failed)},
            )
            notes.append(
                f"chat {chat_id}: index built: {counted(result.revisions, 'message version')} "
                f"indexed in this run, {counted(count, 'token')}"
                + (
                    f", {counted(len(result.failed), 'version')} could not be opened"
                    if result.failed
                    else ""
                )
            )
    except (StoreError, KeyringError) as exc:
        raise _stopped(exc) from None
    return Outcome(
        f"build_search_index: {counted(len(to_build), 'chat')} indexed "
        f"({counted(versions, 'message version')}, {counted(tokens, 'token')}), "
        f"{len(built)} already built, {len(failed)} failed",
        notes=notes,
        warnings=[f"FAILED {line}" for line in failed[:MAX_FAILURE_LINES]],
        failure=(
            f"{counted(len(failed), 'message version')} could not be opened and are not "
            "searchable (verify_archive says more)"
            if failed
            else ""
        ),
    )


def do_drop_search_indexes(
    chat_ids: list[int], *, dry_run: bool = False, progress: Progress | None = None
) -> Outcome:
    """Turns off the index of ``chat_ids`` (every indexed chat if empty) and deletes its
    tokens, waiting to sweep those that processes still holding the switch add meanwhile."""
    progress = progress or Progress(sys.stderr, enabled=False)
    on = set(SearchIndex.objects.values_list("chat_id", flat=True))
    chats = [c for c in chat_ids if c in on] if chat_ids else sorted(on)
    notes = [f"chat {c}: the index is already off" for c in chat_ids if c not in on]
    if dry_run or not chats:
        verb = "would be turned off; dry run, nothing changed" if dry_run else "turned off"
        indexes = counted(len(chats), "chat index", "chat indexes")
        return Outcome(f"build_search_index: {indexes} {verb}", notes=notes)
    try:
        dropped = {chat_id: index.turn_off(chat_id) for chat_id in chats}
        seconds = index.switch_delay().total_seconds()
        if seconds > 0:
            # Processes that read the switch before it changed may still add a few tokens.
            progress.note(f"waiting {seconds:.0f} s, then deleting tokens added meanwhile")
            time.sleep(seconds)
            for chat_id in chats:
                dropped[chat_id] += get_store().drop_search_tokens(chat_id)
    except (StoreError, KeyringError) as exc:
        raise _stopped(exc) from None
    for chat_id, count in dropped.items():
        audit.record_action(OFF, chat_id=chat_id, filters={"tokens": count})
        notes.append(f"chat {chat_id}: index off, {counted(count, 'token')} deleted")
    return Outcome(
        f"build_search_index: {counted(len(chats), 'chat index', 'chat indexes')} turned "
        f"off, {counted(sum(dropped.values()), 'token')} deleted",
        notes=notes,
    )


def _wait_for_switch(rows: list[SearchIndex], progress: Progress) -> None:
    due = max((index.switch_seen_at(row) for row in rows), default=timezone.now())
    seconds = (due - timezone.now()).total_seconds()
    if seconds > 0:
        progress.note(
            f"waiting {seconds:.0f} s until every server process indexes new messages of "
            f"{'these chats' if len(rows) > 1 else 'this chat'} "
            "(GROUPIE_SEARCH_INDEX_CACHE_SECONDS, plus 5 s)"
        )
        time.sleep(seconds)


def _stopped(exc: Exception) -> Stopped:
    return Stopped(
        f"stopped: {type(exc).__name__}: {exc}. What was indexed stays; run it again to carry on."
    )
