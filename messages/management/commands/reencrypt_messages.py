"""manage.py reencrypt_messages [--chat CHAT_ID]: re-seal records under superseded keys."""

from __future__ import annotations

from typing import Any

from messages.keys.actions import RunOptions, do_reencrypt_messages
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand, chat_argument


class Command(LifecycleCommand):
    help = (
        "Re-seals every record still under a superseded chat-key version with the chat's active "
        "key, then retires the superseded versions (their wrapped keys are erased). Safe to "
        "interrupt and run again."
    )
    paced = True

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_reencrypt_messages(chat_id=options["chat"], dry_run=options["dry_run"], run=run)
