"""manage.py build_search_index: turn a chat's search index on (and build it), or off."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages.management.base import action_errors, chats_argument, print_outcome, progress_for
from messages.search.actions import do_build_search_indexes, do_drop_search_indexes


class Command(ArchiveCommand):
    help = (
        "Turns on the search index of a chat (--chat ID, repeatable) or of every chat (--all) "
        "and builds it from what the chat already holds; new messages are indexed as they "
        "arrive. Resumable: interrupted, run it again. --disable turns the index off and "
        "deletes its tokens. See docs/search.md for what an index reveals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        chats_argument(parser, "This chat; repeatable.")
        parser.add_argument("--all", action="store_true", help="Every chat in the archive.")
        parser.add_argument(
            "--disable", action="store_true", help="Turn the index off and delete its tokens."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be done; change nothing."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar or progress lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted, every = options["chat"], options["all"]
        if wanted and every:
            raise CommandError("give --chat CHAT_ID (repeatable) or --all, not both")
        if not wanted and not every:
            raise CommandError("say which chats: --chat CHAT_ID (repeatable) or --all")
        action = do_drop_search_indexes if options["disable"] else do_build_search_indexes
        with action_errors():
            outcome = action(
                wanted,
                dry_run=options["dry_run"],
                progress=progress_for(self, enabled=not options["no_progress"]),
            )
        print_outcome(self, outcome)
