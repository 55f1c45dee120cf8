"""manage.py retry_media_fetches [--chat ID ...] [--stuck] [--dry-run]: fetch failed files again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from groupie.commands import ArchiveCommand
from messages.management.base import chats_argument
from messages.models import MediaFile
from webhooks.media import BACKOFF_SECONDS, ENQUEUE_FAILURES, requeue

# A pending file whose next attempt is this late has lost its task (a worker's database was
# reset, a queue purged): --stuck queues it again.
STUCK_AFTER = timedelta(seconds=max(BACKOFF_SECONDS) + 3600)


class Command(ArchiveCommand):
    help = (
        "Queues the media files whose fetch failed (its retries exhausted) to be fetched again, "
        "their attempts counted afresh. --stuck adds pending files whose task was lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        chats_argument(parser, "Only this chat; repeatable. Default: every chat.")
        parser.add_argument(
            "--stuck",
            action="store_true",
            help="Also pending files not attempted for longer than the longest retry wait.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count; queue nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = Q(status=MediaFile.FAILED)
        if options["stuck"]:
            late = timezone.now() - STUCK_AFTER
            wanted |= Q(status=MediaFile.PENDING) & (
                Q(next_attempt_at__lt=late) | Q(next_attempt_at=None)
            )
        rows = MediaFile.objects.filter(wanted)
        if options["chat"]:
            rows = rows.filter(chat_id__in=options["chat"])
        if options["dry_run"]:
            count = rows.count()
            self.stdout.write(f"retry_media_fetches: {count} {_files(count)} would be queued")
            return
        try:
            queued = requeue(rows.iterator())
        except ENQUEUE_FAILURES as exc:
            raise CommandError(
                f"queueing failed ({type(exc).__name__}) part way; run it again to finish"
            ) from None
        self.stdout.write(
            f"retry_media_fetches: {queued} {_files(queued)} queued to be fetched again"
        )


def _files(count: int) -> str:
    return "file" if count == 1 else "files"
