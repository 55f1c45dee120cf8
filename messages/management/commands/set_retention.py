"""manage.py set_retention CHAT_ID DAYS|forever: how long a chat's messages are kept."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages import retention


class Command(ArchiveCommand):
    help = (
        "Sets how long a chat's messages are kept (purge_messages deletes what is older), or "
        f"'forever' (the default). DAYS is {retention.MIN_DAYS} to {retention.MAX_DAYS}. "
        "Audited; also editable in the admin (with archive.manage_retention)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("chat_id", type=int, help="The Telegram chat id, e.g. -1001234567890.")
        parser.add_argument(
            "period",
            help=f"Days to keep ({retention.MIN_DAYS}-{retention.MAX_DAYS}), or 'forever'.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chat_id, period = options["chat_id"], options["period"].strip().lower()
        if period == "forever":
            retention.do_clear_retention(chat_id)
            self.stdout.write(f"chat {chat_id}: messages are kept forever")
            return
        if not period.isascii() or not period.isdigit():
            raise CommandError(
                f"{options['period']!r}: give a number of days ({retention.MIN_DAYS} to "
                f"{retention.MAX_DAYS}) or 'forever'"
            )
        try:
            row = retention.do_set_retention(chat_id, int(period))
        except retention.InvalidPeriod as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"chat {chat_id}: messages older than {row.days} days are purged")
