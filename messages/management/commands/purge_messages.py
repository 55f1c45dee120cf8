"""manage.py purge_messages: delete messages older than their chat's retention period."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand, counted
from groupie.progress import Progress
from messages import audit
from messages.management.base import chats_argument
from messages.media import files
from messages.media.blobs.base import BlobStoreError
from messages.models import ChatRetention
from messages.stores import get_store
from messages.stores.records import StoreError

DAY = 86_400


class Command(ArchiveCommand):
    help = (
        "Deletes messages (with every version and their media files) older than their chat's "
        "retention period (set_retention, or the admin), or than --older-than DAYS for every "
        "chat chosen. Fit to run daily as a job; interrupted, the next run finishes. Chats "
        "without a period keep everything unless --older-than is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=int, metavar="DAYS", help="Purge older than DAYS, every chat."
        )
        chats_argument(parser, "Only this chat; repeatable. Default: every chat.")
        parser.add_argument("--dry-run", action="store_true", help="Count; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = options["older_than"]
        if older_than is not None and older_than < 1:
            raise CommandError("--older-than takes a number of days, 1 or more")
        store = get_store()
        periods = dict(ChatRetention.objects.values_list("chat_id", "days"))
        wanted = set(options["chat"])
        chats = [c.chat_id for c in store.list_chats() if not wanted or c.chat_id in wanted]
        now = int(time.time())
        plan = {
            chat: now - DAY * (older_than if older_than is not None else periods[chat])
            for chat in chats
            if older_than is not None or chat in periods
        }
        deleted = revisions = media = 0
        progress = Progress(sys.stderr, enabled=not options["dry_run"])
        try:
            for chat, before in progress.iterate(plan.items(), len(plan), "chats"):
                if options["dry_run"]:
                    deleted += store.count_messages_before(chat, before)
                    media += files.count_media_before(chat, before)
                    continue
                result = store.delete_messages_before(chat, before)
                deleted, revisions = deleted + result.messages, revisions + result.revisions
                media += files.delete_media_before(chat, before)
        except (StoreError, BlobStoreError) as exc:
            raise CommandError(
                f"the store failed ({exc}) after {counted(deleted, 'message')}; run again to finish"
            ) from None
        if options["dry_run"]:
            self.stdout.write(
                f"purge_messages: {counted(deleted, 'message')} "
                f"({counted(media, 'media file')}) would be purged in {counted(len(plan), 'chat')}"
            )
            return
        erased = store.erase_deleted()
        summary = (
            f"{counted(deleted, 'message')} ({counted(revisions, 'version')}, "
            f"{counted(media, 'media file')}) purged in {counted(len(plan), 'chat')}"
        )
        audit.record_command("purge_messages", filters={"summary": summary})
        self.stdout.write(f"purge_messages: {summary}")
        if not erased:
            self.stderr.write(
                "note: SQLite could not yet empty its write-ahead log (another connection was "
                "reading); a later checkpoint or the next run does it"
            )
