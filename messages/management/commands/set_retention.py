"""manage.py set_retention CHAT_ID DAYS|forever: how long a chat's messages are kept."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages import audit
from messages.models import ChatRetention


class Command(ArchiveCommand):
    help = (
        "Sets how long a chat's messages are kept (purge_messages deletes what is older), or "
        "'forever' (the default). Also editable in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("chat_id", type=int, help="The Telegram chat id, e.g. -1001234567890.")
        parser.add_argument("period", help="Days to keep (1 or more), or 'forever'.")

    def handle(self, *args: Any, **options: Any) -> None:
        chat_id, period = options["chat_id"], options["period"].strip().lower()
        if period == "forever":
            ChatRetention.objects.filter(chat_id=chat_id).delete()
            said = f"chat {chat_id}: messages are kept forever"
        else:
            if not period.isdigit() or int(period) < 1:
                raise CommandError(
                    f"{options['period']!r}: give a number of days (1 or more) or 'forever'"
                )
            ChatRetention.objects.update_or_create(chat_id=chat_id, defaults={"days": int(period)})
            said = f"chat {chat_id}: messages older than {int(period)} days are purged"
        audit.record_command("set_retention", chat_id=chat_id, filters={"period": period})
        self.stdout.write(said)
