"""Creates an API key and prints it once, as the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages import audit
from messages.apikeys import create_api_key
from messages.management.base import chats_argument
from messages.models import ApiKey


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
        taken = ApiKey.objects.filter(name=options["name"], revoked_at__isnull=True)
        if taken.exists() and not options["allow_duplicate_name"]:
            raise CommandError(
                f"a live API key is already named {options['name']!r} "
                f"({', '.join(taken.values_list('prefix', flat=True))}). Revoke it in the admin, "
                "pick another name, or pass --allow-duplicate-name."
            )
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
