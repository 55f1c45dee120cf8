"""Archives a realistic demo conversation through the real archive service."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from messages.services import archive
from messages.stores import get_store
from messages.telegram import IncomingMessage
from webhooks.demo_data import demo_updates
from webhooks.updates import parse_update


class Command(BaseCommand):
    help = "Archive the demo conversation (several chats, a forum, edits, media, a channel)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the archive already holds a chat (make run uses this).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and get_store().list_chats():
            self.stdout.write("The archive is not empty; demo not loaded.")
            return
        outcomes: Counter[str] = Counter()
        for data in demo_updates():
            update = parse_update(data)
            if isinstance(update, IncomingMessage):
                outcomes[archive(update).value] += 1
        chats = len(get_store().list_chats())
        self.stdout.write(
            f"Demo archived: {outcomes['created']} messages, {outcomes['revised']} edits, "
            f"{outcomes['duplicate']} already present, in {chats} chats."
        )
