"""manage.py retry_media_fetches [--chat ID ...] [--stuck] [--dry-run]: fetch failed files again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.management.base import action_errors, chats_argument, print_outcome
from webhooks.actions import do_retry_media_fetches


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
        with action_errors():
            outcome = do_retry_media_fetches(
                options["chat"], stuck=options["stuck"], dry_run=options["dry_run"]
            )
        print_outcome(self, outcome)
