"""Archives a realistic demo conversation through the real archive service."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand, counted
from messages.media import files
from messages.models import MediaFile
from messages.services import archive
from messages.stores import get_store
from messages.telegram import IncomingMessage
from webhooks import media
from webhooks.botapi import BotApi
from webhooks.demo_data import demo_files, demo_updates
from webhooks.loopback import BotApiPeer
from webhooks.updates import parse_update


class Command(ArchiveCommand):
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
        # The demo's files come from a loopback Bot API server that this command runs, and
        # are fetched at once, as the worker would fetch a real chat's.
        telegram = BotApiPeer()
        try:
            for file_id, path in demo_files().items():
                telegram.add_file(file_id, path.read_bytes(), path.name)
            api = BotApi(telegram.token, base_url=telegram.url)
            for data in demo_updates():
                update = parse_update(data)
                if isinstance(update, IncomingMessage):
                    outcomes[archive(update).value] += 1
                    row, _ = files.note(update)
                    if row is not None and row.status == MediaFile.PENDING:
                        outcomes[f"media {media.fetch(row.pk, api=api)}"] += 1
        finally:
            telegram.close()
        chats = len(get_store().list_chats())
        self.stdout.write(
            f"Demo archived: {counted(outcomes['created'], 'message')}, "
            f"{counted(outcomes['revised'], 'edit')}, {outcomes['duplicate']} already present, "
            f"in {counted(chats, 'chat')}; {counted(outcomes['media stored'], 'media file')} "
            "sealed into the media store."
        )
