"""manage.py verify_archive [--chat CHAT_ID]: open everything; exit 1 if anything fails."""

from __future__ import annotations

from typing import Any

from messages.keys.actions import RunOptions, do_verify_archive
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand, chat_argument


class Command(LifecycleCommand):
    help = (
        "Opens every revision, head and chat title, and checks every chat's keys. Shredded "
        "chats are reported as shredded. Exits 1 if anything cannot be opened."
    )
    writes = False

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_verify_archive(chat_id=options["chat"], run=run)
