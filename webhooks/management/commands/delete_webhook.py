"""manage.py delete_webhook: stop Telegram delivering to the webhook (e.g. to poll instead)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.botapi import BotApi, BotApiError


class Command(BaseCommand):
    help = "Deletes the bot's webhook; Telegram keeps undelivered updates for getUpdates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--drop-pending-updates",
            action="store_true",
            help="Also discard the updates Telegram holds (they are then never archived).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            BotApi().call(
                "deleteWebhook", drop_pending_updates=options["drop_pending_updates"] or None
            )
        except BotApiError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("webhook deleted")
