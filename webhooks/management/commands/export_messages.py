"""manage.py export_messages --output PATH [--format ndjson|telegram] [--chat ID ...]."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crypto.errors import KeyringError
from messages import audit
from messages.keys.command import chats_argument
from messages.reading import as_api, opening
from messages.reading.opening import OpenedMessage
from messages.stores import get_store
from messages.stores.records import ChatRecord, MessageQuery, StoreError
from webhooks.telegram_export import as_exported, exported_chat

BATCH = 500


class Command(BaseCommand):
    help = (
        "Writes the archive, decrypted, to a file created 0600: NDJSON (the API's export, one "
        "message a line) or Telegram Desktop's JSON layout, which import_telegram_export (and "
        "other tools that read Telegram exports) can read back. Each message's latest version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, required=True, help="The file to write.")
        parser.add_argument("--format", choices=("ndjson", "telegram"), default="ndjson")
        chats_argument(parser, "Only this chat; repeatable. Default: every chat.")

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
                writer = _ndjson if options["format"] == "ndjson" else _telegram
                for count in writer(out, chats):
                    written += count
                    bar.update(count)
        except (StoreError, KeyringError) as exc:
            raise CommandError(
                f"the archive became unavailable ({type(exc).__name__}) after {written} "
                f"messages; {output} is incomplete: delete it and run again"
            ) from None
        audit.record_command(
            "export_messages",
            filters={"format": options["format"], "chats": options["chat"] or "every chat"},
        )
        self.stdout.write(
            f"export_messages: {written} messages of {len(chats)} chats to {output} "
            f"({options['format']}, mode 0600)"
        )

    def _bar(self, total: int) -> Any:
        return tqdm(total=total, unit=" messages", file=sys.stderr, disable=not sys.stderr.isatty())


def _opened(chat_id: int) -> Iterator[list[OpenedMessage]]:
    """The chat's messages in date order, opened, a page at a time."""
    store = get_store()
    after: str | None = None
    while True:
        page = store.query(
            MessageQuery(chats=(chat_id,), descending=False, after=after, limit=BATCH)
        )
        yield opening.open_messages(page.items)
        if not page.has_more:
            return
        after = page.items[-1].sort_key


def _ndjson(out: IO[str], chats: list[ChatRecord]) -> Iterator[int]:
    for chat in chats:
        for batch in _opened(chat.chat_id):
            for item in batch:
                out.write(json.dumps(as_api.message(item), ensure_ascii=False) + "\n")
            yield len(batch)


def _telegram(out: IO[str], chats: list[ChatRecord]) -> Iterator[int]:
    """One chat: that chat's layout; several: the whole-account layout with its list."""
    several = len(chats) != 1
    if several:
        out.write('{"about": "Exported by groupie.", "chats": {"list": [\n')
    for index, chat in enumerate(chats):
        title = opening.open_title(chat)[0] or ""
        header = json.dumps(exported_chat(chat.chat_id, chat.type, title), ensure_ascii=False)
        out.write(("," if index else "") + header[:-1] + ', "messages": [\n')
        first = True
        for batch in _opened(chat.chat_id):
            for item in batch:
                if item.opened.message is None:
                    continue  # a record that does not open cannot be exported
                line = json.dumps(as_exported(item.opened.message), ensure_ascii=False)
                out.write(("" if first else ",\n") + line)
                first = False
            yield len(batch)
        out.write("\n]}")
    if several:
        out.write("\n]}}")
    out.write("\n")
