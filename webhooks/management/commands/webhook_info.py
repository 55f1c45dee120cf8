"""manage.py webhook_info [--json]: what Telegram says about this bot's webhook."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.botapi import BotApi, BotApiError
from webhooks.telegram_status import record

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Shows what Telegram reports for the bot's webhook: its URL, updates waiting "
        "(pending_update_count), the last delivery error, max_connections. Logs the same as "
        "one structured line, for a log-based metric when run as a scheduled job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the answer as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            info = BotApi().get_webhook_info()
        except BotApiError as exc:
            raise CommandError(str(exc)) from None
        record(info)
        logger.info(
            "telegram webhook: %d pending updates",
            info.pending_update_count,
            extra={"count": info.pending_update_count, "outcome": "ok"},
        )
        if options["json"]:
            self.stdout.write(json.dumps(asdict(info), indent=2))
            return
        error = "none"
        if info.last_error_date:
            when = datetime.fromtimestamp(info.last_error_date, UTC).isoformat(timespec="seconds")
            error = f"{when}: {info.last_error_message or 'no message'}"
        lines = [
            f"url:              {info.url or '(none: no webhook is set)'}",
            f"pending updates:  {info.pending_update_count}",
            f"last error:       {error}",
            f"max connections:  {info.max_connections or '-'}",
            f"allowed updates:  {', '.join(info.allowed_updates or []) or 'Telegram default'}",
        ]
        self.stdout.write("\n".join(lines))
