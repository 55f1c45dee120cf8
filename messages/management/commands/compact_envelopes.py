"""manage.py compact_envelopes [--chat CHAT_ID] [--dry-run]: store each version's envelope once
in an archive written before it was (deletes the revision records that repeat their head)."""

from __future__ import annotations

from typing import Any

from messages.keys.actions import RunOptions, do_compact_envelopes
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand, chat_argument


class Command(LifecycleCommand):
    help = (
        "Deletes the revision records that repeat their message's head (same version, same "
        "envelope), which an archive stored before each version's envelope was kept once holds "
        "for every message; on any store. Reads are right before and after. Safe to interrupt "
        "and run again."
    )

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_compact_envelopes(chat_id=options["chat"], dry_run=options["dry_run"], run=run)
