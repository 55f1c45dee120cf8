"""manage.py build_log [--dry-run] [--no-progress]: gives an existing archive its log."""

from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser

from crypto.errors import KeyringError
from groupie.commands import ArchiveCommand
from groupie.progress import Progress
from messages.stores.records import StoreError
from messages.transparency.actions import do_build_log


class Command(ArchiveCommand):
    help = (
        "Appends an archive-log leaf for every stored revision that has none, chat by chat in "
        "archive order, opening each to commit to its content. Resumable: run it again after "
        "an interruption and it carries on. Exit 1 if some revision could not be opened."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count; append nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        progress = Progress(cast(IO[str], self.stderr._out), enabled=not options["no_progress"])
        try:
            result = do_build_log(dry_run=options["dry_run"], progress=progress)
        except (StoreError, KeyringError) as exc:
            raise CommandError(
                f"build_log stopped: {type(exc).__name__}; what it appended is kept: run it "
                "again to carry on"
            ) from None
        prefix = "build_log (dry run)" if options["dry_run"] else "build_log"
        self.stdout.write(f"{prefix}: {result.summary()}")
        if result.unopenable:
            raise CommandError(f"{result.unopenable} revisions could not be opened: not logged")
