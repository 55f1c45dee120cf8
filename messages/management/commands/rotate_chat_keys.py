"""manage.py rotate_chat_keys [--chat CHAT_ID] [--restart]: give chats a new active key version."""

from __future__ import annotations

from typing import Any

from messages.keys.actions import RunOptions, do_rotate_chat_keys
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand, chat_argument


class Command(LifecycleCommand):
    help = (
        "Creates a new active key version for every chat (or one): new records are sealed with "
        "it, older ones stay readable until reencrypt_messages re-seals them. Run again within a "
        "day, an interrupted run resumes where it stopped: chats it rotated are not rotated again."
    )
    paced = True

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)
        parser.add_argument(
            "--restart",
            action="store_true",
            help="Do not resume an interrupted run: rotate every chat again.",
        )

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_rotate_chat_keys(
            chat_id=options["chat"],
            restart=options["restart"],
            dry_run=options["dry_run"],
            run=run,
        )
