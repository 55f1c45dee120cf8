"""manage.py import_telegram_export PATH: backfill history from a Telegram Desktop export."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crypto.errors import CryptoError
from messages.keys.command import chats_argument
from messages.services import archive
from messages.stores.records import PutOutcome, RecordRefused, StoreError
from messages.telegram import InvalidMessage, parse_message
from webhooks.telegram_export import BadExport, messages

SHOWN_REASONS = 5


class Command(BaseCommand):
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
        counts: Counter[str] = Counter()
        reasons: list[str] = []
        chats: set[int] = set()
        with path.open("rb") as raw:
            stream: Any = raw
            if sys.stderr.isatty():
                stream = tqdm.wrapattr(
                    raw, "read", total=path.stat().st_size, desc="export", file=sys.stderr
                ).__enter__()
            try:
                for chat, position, message in messages(stream, str(path)):
                    if wanted and chat.chat_id not in wanted:
                        continue
                    chats.add(chat.chat_id)
                    where = f"chat {chat.chat_id}, message #{position}"
                    self._one(message, where, counts, reasons, dry_run=options["dry_run"])
            except BadExport as exc:
                raise CommandError(
                    f"{exc}. What came before it is archived: run again after "
                    "fixing the file, and it continues."
                ) from None
            except (StoreError, CryptoError) as exc:
                raise CommandError(
                    f"the archive is unavailable ({type(exc).__name__}); "
                    f"{counts['imported']} messages imported so far. Run again: it continues."
                ) from None
        for reason in reasons[:SHOWN_REASONS]:
            self.stderr.write(f"  skipped: {reason}")
        verb = "would be imported" if options["dry_run"] else "imported"
        self.stdout.write(
            f"import_telegram_export: {len(chats)} chats, {counts['imported']} {verb}, "
            f"{counts['present']} already present, {counts['skipped']} skipped"
        )

    def _one(
        self,
        message: dict[str, Any],
        where: str,
        counts: Counter[str],
        reasons: list[str],
        *,
        dry_run: bool,
    ) -> None:
        is_edit = bool(message.get("edit_date"))
        try:
            incoming = parse_message(
                0, "edited_message" if is_edit else "message", message, is_edit=is_edit
            )
        except InvalidMessage as exc:
            counts["skipped"] += 1
            reasons.append(f"{where}: {exc}")
            return
        if dry_run:
            counts["imported"] += 1
            return
        try:
            outcome = archive(incoming)
        except (RecordRefused, UnicodeEncodeError) as exc:
            counts["skipped"] += 1
            reasons.append(f"{where}: {type(exc).__name__}")
            return
        counts["present" if outcome is PutOutcome.DUPLICATE else "imported"] += 1
