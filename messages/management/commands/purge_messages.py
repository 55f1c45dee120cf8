"""manage.py purge_messages: delete messages older than their chat's retention period."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.management.base import action_errors, chats_argument, print_outcome, progress_for
from messages.purging import do_purge_messages


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
        with action_errors():
            outcome = do_purge_messages(
                older_than=options["older_than"],
                chat_ids=options["chat"],
                dry_run=options["dry_run"],
                progress=progress_for(self, enabled=not options["dry_run"]),
            )
        print_outcome(self, outcome)
