"""Creates an API key and prints it once, as the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.apikeys import do_create_api_key
from messages.management.base import action_errors, chats_argument


class Command(ArchiveCommand):
    help = "Create an API key for the read API; the key is printed once and not stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Who or what uses the key.")
        chats_argument(
            parser, "Limit the key to this chat; repeat for several. Default: every chat."
        )
        parser.add_argument(
            "--allow-duplicate-name",
            action="store_true",
            help="Create the key even if a live key already has this name.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with action_errors():
            record, key = do_create_api_key(
                options["name"],
                options["chat"],
                allow_duplicate_name=options["allow_duplicate_name"],
            )
        scope = ", ".join(str(c) for c in record.chat_ids) or "every chat"
        self.stderr.write(
            f"Created API key {record.name!r} ({record.prefix}) for {scope}. "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(key)
