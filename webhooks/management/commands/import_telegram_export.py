"""manage.py import_telegram_export PATH: backfill history from a Telegram Desktop export."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError
from tqdm import tqdm

from crypto.errors import CryptoError
from groupie.commands import ArchiveCommand, counted
from messages.importing import Tally
from messages.management.base import chats_argument
from messages.stores.records import StoreError
from messages.telegram_desktop.read import BadExport, messages
from webhooks.media import keep_exported_file


class Command(ArchiveCommand):
    help = (
        "Archives the messages of a Telegram Desktop JSON export (result.json: one chat, or "
        "the whole account's) through the same sealing path as the webhook. Safe to run "
        "again: what is already archived (imported or received live) is not added twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The export's result.json.")
        chats_argument(parser, "Only this chat (its Bot API id, e.g. -1001234567890); repeatable.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Read and check everything, archive nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file (the export's result.json)")
        wanted = set(options["chat"])
        tally = Tally()
        files: Counter[str] = Counter()
        chats: set[int] = set()
        with path.open("rb") as raw:
            stream: Any = raw
            if sys.stderr.isatty():
                stream = tqdm.wrapattr(
                    raw, "read", total=path.stat().st_size, desc="export", file=sys.stderr
                ).__enter__()
            try:
                for exported in messages(stream, str(path)):
                    if wanted and exported.chat.chat_id not in wanted:
                        continue
                    chats.add(exported.chat.chat_id)
                    if exported.message is None:
                        tally.skip(f"{exported.where}: {exported.refused}")
                        continue
                    message = exported.message
                    incoming = tally.archive(message, exported.where, dry_run=options["dry_run"])
                    if incoming is not None:
                        relative = (message.get("groupie_import") or {}).get("file")
                        kept = keep_exported_file(incoming, relative, path.parent)
                        files[kept] += 1
            except BadExport as exc:
                raise CommandError(f"{exc}. {_after(tally)}") from None
            except (StoreError, CryptoError, DatabaseError) as exc:
                raise CommandError(
                    f"the archive is unavailable ({type(exc).__name__}); "
                    f"{counted(tally.counts['imported'], 'message')} imported so far. Run again: "
                    "it continues."
                ) from None
        for line in tally.skipped_lines():
            self.stderr.write(line)
        said = (
            f"import_telegram_export: {counted(len(chats), 'chat')}, "
            f"{tally.counted(dry_run=options['dry_run'])}"
        )
        if files["stored"] or files["present"] or files["missing"]:
            said += (
                f"; files: {files['stored']} sealed, {files['present']} already kept, "
                f"{files['missing']} not in the export"
            )
        self.stdout.write(said)


def _after(tally: Tally) -> str:
    if not (tally.counts["imported"] or tally.counts["present"] or tally.counts["skipped"]):
        return "Nothing was imported."
    return "What came before it is archived: run again after fixing the file, and it continues."
