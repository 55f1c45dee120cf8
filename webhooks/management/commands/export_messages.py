"""manage.py export_messages --output PATH [--format ndjson|telegram] [--chat ID ...]."""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.exporting import do_export_to_file
from messages.management.base import action_errors, chats_argument, print_outcome, progress_for
from messages.stores.records import MessageQuery


class Command(ArchiveCommand):
    help = (
        "Writes the archive, decrypted, to a file created 0600: NDJSON (the API's export, one "
        "message a line) or Telegram Desktop's JSON layout, which import_telegram_export (and "
        "other tools that read Telegram exports) can read back. Each message's latest version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, required=True, help="The file to write.")
        parser.add_argument("--format", choices=("ndjson", "telegram"), default="ndjson")
        chats_argument(parser, "Only this chat; repeatable. Default: every chat.")
        parser.add_argument("--user", type=int, help="Only messages from this user id.")
        parser.add_argument("--kind", help="Only this kind (text, photo, voice, poll, ...).")
        parser.add_argument(
            "--since", type=_date, help="From this date (YYYY-MM-DD, UTC), inclusive."
        )
        parser.add_argument(
            "--until", type=_date, help="Up to this date (YYYY-MM-DD, UTC), inclusive."
        )
        parser.add_argument(
            "--proofs",
            action="store_true",
            help="NDJSON only: a signed checkpoint first, and with each message its log leaf, "
            "opening key and inclusion proof (check with python -m crypto.verify_export).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        until = options["until"]
        query = MessageQuery(
            user=options["user"],
            kind=options["kind"],
            since=options["since"],
            until=until + DAY - 1 if until is not None else None,
        )
        with action_errors():
            outcome = do_export_to_file(
                options["output"],
                options["format"],
                options["chat"],
                query,
                progress_for(self),
                proofs=options["proofs"],
            )
        print_outcome(self, outcome)


DAY = 86_400


def _date(value: str) -> int:
    try:
        return int(datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a date like 2025-03-01") from None
