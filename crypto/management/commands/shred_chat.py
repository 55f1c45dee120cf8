"""manage.py shred_chat CHAT_ID [--yes] [--dry-run]: erase a chat for good."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from crypto.lifecycle.command import LifecycleCommand, chat_argument
from crypto.lifecycle.operations import Lifecycle, Report, noun
from messages.stores.orm import ORMStore
from messages.stores.sqlite_writer import uses_group_commit


class Command(LifecycleCommand):
    help = (
        "Destroys every version of the chat's key, then deletes its messages, revisions and "
        "directory entry. Nothing of it can be decrypted afterwards. Asks for confirmation "
        "unless --yes is given. Run again after an interruption, it finishes the job."
    )

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser, positional=True)
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def before_lock(self, lifecycle: Lifecycle, options: dict[str, Any]) -> None:
        # Asked before the lock is taken: an operator thinking it over blocks no one.
        if not options["yes"] and not options["dry_run"]:
            chat_id = options["chat_id"]
            self.confirm(chat_id, lifecycle.shred_chat(chat_id, dry_run=True))

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        report = lifecycle.shred_chat(options["chat_id"], dry_run=options["dry_run"])
        if options["dry_run"]:
            return report
        if isinstance(lifecycle.store, ORMStore) and uses_group_commit():
            self.empty_write_ahead_log()
        return report

    def empty_write_ahead_log(self) -> None:
        """Deleted rows can linger in SQLite's write-ahead log until a checkpoint: empty it.

        A reader elsewhere (a web worker mid-request) can keep the checkpoint from finishing;
        the chat's keys are destroyed either way, so that is a note, not a failure."""
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = (cursor.fetchone() or (0,))[0]
        except DatabaseError:
            busy = 1
        if busy:
            self.stderr.write(
                "note: another connection kept SQLite from emptying its write-ahead log; the "
                "deleted rows leave it at a later checkpoint (or run shred_chat again)"
            )

    def confirm(self, chat_id: int, plan: Report) -> None:
        if not sys.stdin.isatty():
            raise CommandError(
                "shred_chat cannot be undone: pass --yes to run it without a terminal"
            )
        details = ", ".join(f"{n:,} {noun(what, n)}" for what, n in plan.counts.items())
        self.stdout.write(f"This erases chat {chat_id} for good: {details}.")
        answer = input(f"Type the chat id ({chat_id}) to confirm: ").strip()
        if answer != str(chat_id):
            raise CommandError("not confirmed: nothing was changed")
