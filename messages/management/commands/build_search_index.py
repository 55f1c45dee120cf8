"""manage.py build_search_index: turn a chat's search index on (and build it), or off."""

from __future__ import annotations

import time
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crypto.errors import KeyringError
from messages import audit
from messages.keys.command import chats_argument
from messages.keys.progress import Progress
from messages.models import SearchIndex
from messages.search import index
from messages.stores import get_store
from messages.stores.records import StoreError

MAX_FAILURE_LINES = 20


class Command(BaseCommand):
    help = (
        "Turns on the search index of a chat (--chat ID, repeatable) or of every chat (--all) "
        "and builds it from what the chat already holds; new messages are indexed as they "
        "arrive. Resumable: interrupted, run it again. --disable turns the index off and "
        "deletes its tokens. See docs/search.md for what an index reveals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        chats_argument(parser, "This chat; repeatable.")
        parser.add_argument("--all", action="store_true", help="Every chat in the archive.")
        parser.add_argument(
            "--disable", action="store_true", help="Turn the index off and delete its tokens."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar or progress lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted, every = options["chat"], options["all"]
        if bool(wanted) == every:
            raise CommandError("say which chats: --chat CHAT_ID (repeatable) or --all")
        progress = Progress(cast(IO[str], self.stderr._out), enabled=not options["no_progress"])
        try:
            if options["disable"]:
                chats = wanted or sorted(SearchIndex.objects.values_list("chat_id", flat=True))
                self._disable(chats, progress)
            else:
                known = {c.chat_id: c for c in get_store().list_chats()}
                unknown = [c for c in wanted if c not in known]
                if unknown:
                    raise CommandError(
                        f"not in the archive: chat {', '.join(map(str, unknown))} "
                        "(list the chats with `manage.py key_status`)"
                    )
                self._build(wanted or sorted(known), progress)
        except (StoreError, KeyringError) as exc:
            raise CommandError(
                f"stopped: {type(exc).__name__}: {exc}. What was indexed stays; run it again "
                "to carry on."
            ) from None

    def _build(self, chats: list[int], progress: Progress) -> None:
        store = get_store()
        failed: list[str] = []
        for chat_id in chats:
            row, created = index.turn_on(chat_id)
            if row.state == SearchIndex.READY:
                self.stdout.write(f"chat {chat_id}: the index is already built")
                continue
            wait = (index.switch_seen_at(row) - row.enabled_at).total_seconds()
            if created and wait > 0:
                progress.note(
                    f"chat {chat_id}: index on; waiting {wait:.0f} s until every process "
                    "indexes new messages (GROUPIE_SEARCH_INDEX_CACHE_SECONDS)"
                )
            total = sum(store.count_revisions(chat_id).values())
            done = max(row.revisions_indexed, 0)
            with progress.counting(max(total - done, 0), f"versions of chat {chat_id}") as add:
                result = index.build(chat_id, step=add)
            failed += result.failed
            audit.record_command(
                "build_search_index",
                chat_id=chat_id,
                filters={"revisions": result.revisions, "failed": len(result.failed)},
            )
            tokens = sum(store.count_search_tokens(chat_id).values())
            self.stdout.write(
                f"chat {chat_id}: index built: {result.revisions:,} message versions indexed "
                f"in this run, {tokens:,} tokens"
                + (f", {len(result.failed)} versions could not be opened" if result.failed else "")
            )
        for line in failed[:MAX_FAILURE_LINES]:
            self.stderr.write(f"FAILED {line}")
        if failed:
            raise CommandError(
                f"{len(failed)} message versions could not be opened and are not searchable "
                "(verify_archive says more)"
            )

    def _disable(self, chats: list[int], progress: Progress) -> None:
        if not chats:
            self.stdout.write("no chat has a search index")
            return
        dropped = {chat_id: index.turn_off(chat_id) for chat_id in chats}
        seconds = index.switch_delay().total_seconds()
        if seconds > 0:
            # Processes that read the switch before it changed may still add a few tokens.
            progress.note(f"waiting {seconds:.0f} s, then deleting tokens added meanwhile")
            time.sleep(seconds)
            for chat_id in chats:
                dropped[chat_id] += get_store().drop_search_tokens(chat_id)
        for chat_id, count in dropped.items():
            audit.record_command("build_search_index", chat_id=chat_id, filters={"disable": True})
            self.stdout.write(f"chat {chat_id}: index off, {count:,} tokens deleted")
