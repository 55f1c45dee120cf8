"""Purging: deleting messages (every version, and their media files) older than their chat's
retention period (``messages.retention``), or than a number of days for every chat chosen.

``do_purge_messages`` is the operator action behind purge_messages (a daily job): it plans,
deletes chat by chat, writes its audit entry with the summary and counts it. Interrupted, the
next run finishes: what is deleted stays deleted.
"""

from __future__ import annotations

import sys
import time

from groupie.commands import counted
from groupie.progress import Progress
from messages import audit
from messages.access import held_chats, hold_text
from messages.media import files
from messages.media.blobs.base import BlobStoreError
from messages.models import ChatRetention
from messages.outcome import Outcome, Refused, Stopped
from messages.stores import get_store
from messages.stores.records import StoreError
from messages.transparency.leaves import log_tombstone

DAY = 86_400
SQLITE_NOTE = (
    "note: SQLite could not yet empty its write-ahead log (another connection was reading); "
    "a later checkpoint or the next run does it"
)


def do_purge_messages(
    *,
    older_than: int | None = None,
    chat_ids: list[int] | tuple[int, ...] = (),
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Purges each chosen chat (every chat if ``chat_ids`` is empty) older than
    ``older_than`` days, or than its retention period when None (a chat without one keeps
    everything). A dry run counts and changes nothing (and is not audited)."""
    if older_than is not None and older_than < 1:
        raise Refused("--older-than takes a number of days, 1 or more")
    store = get_store()
    periods = dict(ChatRetention.objects.values_list("chat_id", "days"))
    wanted = set(chat_ids)
    chats = [c.chat_id for c in store.list_chats() if not wanted or c.chat_id in wanted]
    now = int(time.time())
    plan = {
        chat: now - DAY * (older_than if older_than is not None else periods[chat])
        for chat in chats
        if older_than is not None or chat in periods
    }
    # A chat under legal hold loses nothing, whatever its period or --older-than says.
    holds = held_chats()
    skipped = [f"skipped: {hold_text(holds[chat])}" for chat in sorted(plan) if chat in holds]
    plan = {chat: before for chat, before in plan.items() if chat not in holds}
    deleted = revisions = media = 0
    progress = progress or Progress(sys.stderr, enabled=False)
    try:
        for chat, before in progress.iterate(plan.items(), len(plan), "chats"):
            if dry_run:
                deleted += store.count_messages_before(chat, before)
                media += files.count_media_before(chat, before)
                continue
            # The log says what goes and why before it goes (docs/transparency.md).
            reason = "purge" if older_than is not None else "retention"
            log_tombstone(store, chat, reason, before=before)
            result = store.delete_messages_before(chat, before)
            deleted, revisions = deleted + result.messages, revisions + result.revisions
            media += files.delete_media_before(chat, before)
    except (StoreError, BlobStoreError) as exc:
        raise Stopped(
            f"the store failed ({exc}) after {counted(deleted, 'message')}; run again to finish"
        ) from None
    if dry_run:
        return Outcome(
            f"purge_messages: {counted(deleted, 'message')} "
            f"({counted(media, 'media file')}) would be purged in {counted(len(plan), 'chat')}",
            warnings=skipped,
        )
    erased = store.erase_deleted()
    summary = (
        f"{counted(deleted, 'message')} ({counted(revisions, 'version')}, "
        f"{counted(media, 'media file')}) purged in {counted(len(plan), 'chat')}"
    )
    if skipped:
        summary += f"; {counted(len(skipped), 'chat')} under legal hold skipped"
    audit.record_action("purge_messages", filters={"summary": summary})
    return Outcome(
        f"purge_messages: {summary}", warnings=skipped + ([] if erased else [SQLITE_NOTE])
    )
