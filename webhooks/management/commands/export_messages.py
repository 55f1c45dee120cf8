"""manage.py export_messages --output PATH [--format ndjson|telegram] [--chat ID ...]."""

from __future__ import annotations

import os
import sys
from argparse import ArgumentTypeError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from crypto.errors import KeyringError
from groupie.commands import ArchiveCommand, counted
from messages import audit, exporting
from messages.management.base import chats_argument
from messages.stores import get_store
from messages.stores.records import MessageQuery, StoreError

BATCH = 500


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

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        if output.exists():
            raise CommandError(f"{output} exists: export_messages never overwrites a file")
        store = get_store()
        wanted = set(options["chat"])
        chats = [c for c in store.list_chats() if not wanted or c.chat_id in wanted]
        missing = wanted - {c.chat_id for c in chats}
        if missing:
            raise CommandError(f"not in the archive: chat {', '.join(map(str, sorted(missing)))}")
        total = sum(c.message_count for c in chats)
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        written = 0
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out, self._bar(total) as bar:
                writer = exporting.ndjson if options["format"] == "ndjson" else exporting.telegram
                query = MessageQuery(
                    user=options["user"],
                    kind=options["kind"],
                    since=options["since"],
                    until=options["until"] + DAY - 1 if options["until"] is not None else None,
                )
                for text, count in writer(chats, query):
                    out.write(text)
                    written += count
                    bar.update(count)
        except (StoreError, KeyringError) as exc:
            raise CommandError(
                f"the archive became unavailable ({type(exc).__name__}) after "
                f"{counted(written, 'message')}; {output} is incomplete: delete it and run again"
            ) from None
        audit.record_command(
            "export_messages",
            filters={"format": options["format"], "chats": options["chat"] or "every chat"},
        )
        self.stdout.write(
            f"export_messages: {counted(written, 'message')} of {counted(len(chats), 'chat')} "
            f"to {output} "
            f"({options['format']}, mode 0600)"
        )

    def _bar(self, total: int) -> Any:
        return tqdm(total=total, unit=" messages", file=sys.stderr, disable=not sys.stderr.isatty())


DAY = 86_400


def _date(value: str) -> int:
    try:
        return int(datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a date like 2025-03-01") from None
