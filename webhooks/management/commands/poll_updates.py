"""manage.py poll_updates: archive a bot's updates by long polling, with no public URL."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand, counted
from webhooks.botapi import BotApi, BotApiError
from webhooks.polling import Poller, PollingRefused


class Command(ArchiveCommand):
    help = (
        "Archives the bot's updates by getUpdates long polling (for a machine without a public "
        "HTTPS URL), through the same path as the webhook. Stops cleanly on Ctrl-C or SIGTERM. "
        "Refuses to start while a webhook is set, unless --delete-webhook."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--delete-webhook", action="store_true", help="Delete the bot's webhook first."
        )
        parser.add_argument(
            "--timeout", type=int, default=50, help="Long-poll seconds per call (default 50)."
        )
        parser.add_argument(
            "--once", action="store_true", help="Archive what is waiting, then stop."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        api = BotApi()
        try:
            info = api.get_webhook_info()
            if info.url:
                if not options["delete_webhook"]:
                    raise CommandError(
                        f"a webhook is set ({info.url}): Telegram will not answer getUpdates "
                        "while it is. Run with --delete-webhook, or delete_webhook first."
                    )
                api.call("deleteWebhook")
                self.stdout.write(f"deleted the webhook {info.url}")
        except BotApiError as exc:
            raise CommandError(str(exc)) from None
        poller = Poller(api, timeout=options["timeout"])
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: poller.stop.set())
        if not options["once"]:
            self.stdout.write(
                f"polling Telegram for updates ({info.pending_update_count} waiting); "
                "Ctrl-C to stop"
            )
        try:
            counts = poller.run(once=options["once"])
        except PollingRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"poll_updates: {counts.archived} archived, {counts.duplicates} already archived, "
            f"{counts.skipped} skipped, {counted(counts.errors, 'error')}"
        )
