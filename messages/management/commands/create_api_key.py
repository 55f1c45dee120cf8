"""Creates an API key and prints it once, as the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from messages import audit
from messages.apikeys import create_api_key


class Command(BaseCommand):
    help = "Create an API key for the read API; the key is printed once and not stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Who or what uses the key.")
        parser.add_argument(
            "--chat",
            type=int,
            action="append",
            default=[],
            metavar="CHAT_ID",
            help="Limit the key to this chat; repeat for several. Default: every chat.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        record, key = create_api_key(options["name"], options["chat"])
        audit.record_command(
            "api-key-create",
            filters={
                "key": f"{record.name} ({record.prefix})",
                "chats": record.chat_ids or "every chat",
            },
        )
        scope = ", ".join(str(c) for c in record.chat_ids) or "every chat"
        self.stderr.write(
            f"Created API key {record.name!r} ({record.prefix}) for {scope}. "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(key)
