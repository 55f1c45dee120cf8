"""manage.py build_search_index: turn a chat's search index on (and build it), or off."""

from __future__ import annotations

import time
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from crypto.errors import KeyringError
from groupie.commands import ArchiveCommand, counted
from groupie.progress import Progress
from messages import audit
from messages.management.base import chats_argument
from messages.models import SearchIndex
from messages.search import index
from messages.stores import get_store
from messages.stores.records import StoreError

MAX_FAILURE_LINES = 20


class Command(ArchiveCommand):
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
            "--dry-run", action="store_true", help="Say what would be done; change nothing."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar or progress lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted, every = options["chat"], options["all"]
        if wanted and every:
            raise CommandError("give --chat CHAT_ID (repeatable) or --all, not both")
        if not wanted and not every:
            raise CommandError("say which chats: --chat CHAT_ID (repeatable) or --all")
        progress = Progress(cast(IO[str], self.stderr._out), enabled=not options["no_progress"])
        try:
            if options["disable"]:
                self._disable(wanted, progress, dry_run=options["dry_run"])
            else:
                self._build(wanted, progress, dry_run=options["dry_run"])
        except (StoreError, KeyringError) as exc:
            raise CommandError(
                f"stopped: {type(exc).__name__}: {exc}. What was indexed stays; run it again "
                "to carry on."
            ) from None

    # -- turning on and building ------------------------------------------------------------

    def _build(self, wanted: list[int], progress: Progress, *, dry_run: bool) -> None:
        store = get_store()
        known = {c.chat_id for c in store.list_chats()}
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise CommandError(
                f"not in the archive: chat {', '.join(map(str, unknown))} (the admin's "
                "Archive → Chats, or GET /api/v1/chats/, lists the chats and their ids)"
            )
        chats = wanted or sorted(known)
        states = dict(SearchIndex.objects.filter(chat_id__in=chats).values_list("chat_id", "state"))
        built = [c for c in chats if states.get(c) == SearchIndex.READY]
        to_build = [c for c in chats if c not in built]
        for chat_id in built:
            self.stdout.write(f"chat {chat_id}: the index is already built")
        if dry_run:
            versions = sum(n for c in to_build for n in store.count_revisions(c).values())
            self.stdout.write(
                f"build_search_index: {counted(len(to_build), 'chat')} would be indexed "
                f"({counted(versions, 'message version')}), {len(built)} already built; dry run, "
                "nothing changed"
            )
            return
        # Every chat on first, then one wait for all of them: each process must have seen the
        # switches before the builds read what is stored.
        rows = [index.turn_on(chat_id)[0] for chat_id in to_build]
        self._wait_for_switch(rows, progress)
        failed: list[str] = []
        versions = tokens = 0
        for chat_id in to_build:
            left = sum(store.count_revisions(chat_id).values())
            done = SearchIndex.objects.get(chat_id=chat_id).revisions_indexed
            with progress.counting(max(left - done, 0), f"versions of chat {chat_id}") as add:
                result = index.build(chat_id, step=add)
            failed += result.failed
            versions += result.revisions
            count = sum(store.count_search_tokens(chat_id).values())
            tokens += count
            audit.record_command(
                "build_search_index",
                chat_id=chat_id,
                filters={"revisions": result.revisions, "failed": len(result.failed)},
            )
            self.stdout.write(
                f"chat {chat_id}: index built: {counted(result.revisions, 'message version')} "
                f"indexed in this run, {counted(count, 'token')}"
                + (
                    f", {counted(len(result.failed), 'version')} could not be opened"
                    if result.failed
                    else ""
                )
            )
        for line in failed[:MAX_FAILURE_LINES]:
            self.stderr.write(f"FAILED {line}")
        self.stdout.write(
            f"build_search_index: {counted(len(to_build), 'chat')} indexed "
            f"({counted(versions, 'message version')}, {counted(tokens, 'token')}), "
            f"{len(built)} already built, {len(failed)} failed"
        )
        if failed:
            raise CommandError(
                f"{counted(len(failed), 'message version')} could not be opened and are not "
                "searchable "
                "(verify_archive says more)"
            )

    def _wait_for_switch(self, rows: list[SearchIndex], progress: Progress) -> None:
        due = max((index.switch_seen_at(row) for row in rows), default=timezone.now())
        seconds = (due - timezone.now()).total_seconds()
        if seconds > 0:
            progress.note(
                f"waiting {seconds:.0f} s until every server process indexes new messages of "
                f"{'these chats' if len(rows) > 1 else 'this chat'} "
                "(GROUPIE_SEARCH_INDEX_CACHE_SECONDS, plus 5 s)"
            )
            time.sleep(seconds)

    # -- turning off ------------------------------------------------------------------------

    def _disable(self, wanted: list[int], progress: Progress, *, dry_run: bool) -> None:
        on = set(SearchIndex.objects.values_list("chat_id", flat=True))
        chats = [c for c in wanted if c in on] if wanted else sorted(on)
        for chat_id in wanted:
            if chat_id not in on:
                self.stdout.write(f"chat {chat_id}: the index is already off")
        if dry_run or not chats:
            verb = "would be turned off; dry run, nothing changed" if dry_run else "turned off"
            self.stdout.write(
                f"build_search_index: {counted(len(chats), 'chat index', 'chat indexes')} {verb}"
            )
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
            self.stdout.write(f"chat {chat_id}: index off, {counted(count, 'token')} deleted")
        total = sum(dropped.values())
        self.stdout.write(
            f"build_search_index: {counted(len(chats), 'chat index', 'chat indexes')} turned "
            f"off, {counted(total, 'token')} deleted"
        )
