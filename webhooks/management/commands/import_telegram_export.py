"""manage.py import_telegram_export PATH: backfill history from a Telegram Desktop export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.management.base import action_errors, chats_argument, print_outcome, progress_for
from webhooks.actions import do_import_telegram_export


class Command(ArchiveCommand):
    help = (
        "Archives the messages of a Telegram Desktop JSON export (result.json: one chat, or "
        "the whole account's) through the same sealing path as the webhook. Safe to run "
        "again: what is already archived (imported or received live) is not added twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The export's result.json.")
        chats_argument(parser, "Only this chat (its Bot API id, e.g. -1001234567890); repeatable.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Read and check everything, archive nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with action_errors():
            outcome = do_import_telegram_export(
                options["path"],
                options["chat"],
                dry_run=options["dry_run"],
                progress=progress_for(self),
            )
        print_outcome(self, outcome)
