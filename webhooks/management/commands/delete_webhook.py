"""manage.py delete_webhook: stop Telegram delivering to the webhook (e.g. to poll instead)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.management.base import action_errors
from webhooks.actions import do_delete_webhook


class Command(ArchiveCommand):
    help = "Deletes the bot's webhook; Telegram keeps undelivered updates for getUpdates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--drop-pending-updates",
            action="store_true",
            help="Also discard the updates Telegram holds (they are then never archived).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with action_errors():
            do_delete_webhook(drop_pending_updates=options["drop_pending_updates"])
        self.stdout.write("webhook deleted")
