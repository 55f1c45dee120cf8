"""manage.py set_legal_hold CHAT_ID --reason TEXT | --release: keep a chat from deletion."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages.legal_hold import do_release_legal_hold, do_set_legal_hold
from messages.management.base import action_errors


class Command(ArchiveCommand):
    help = (
        "Puts a chat under legal hold (--reason TEXT): until --release, purge_messages and "
        "retention skip it, shred_chat refuses it and its media files are kept; key rotation "
        "and re-encryption still run. Audited with the reason; also in the admin (with "
        "archive.manage_legal_hold)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("chat_id", type=int, help="The Telegram chat id, e.g. -1001234567890.")
        choice = parser.add_mutually_exclusive_group(required=True)
        choice.add_argument("--reason", metavar="TEXT", help="Why the chat is held (audited).")
        choice.add_argument("--release", action="store_true", help="Release the chat's hold.")

    def handle(self, *args: Any, **options: Any) -> None:
        chat_id = options["chat_id"]
        with action_errors():
            if options["release"]:
                hold = do_release_legal_hold(chat_id)
                self.stdout.write(f"chat {chat_id}: legal hold released (it was: {hold.reason})")
                return
            if options["reason"] is None:
                raise CommandError("give --reason TEXT or --release")
            do_set_legal_hold(chat_id, options["reason"])
        self.stdout.write(f"chat {chat_id}: under legal hold; nothing of it is deleted")
