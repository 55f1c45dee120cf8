"""manage.py reencrypt_messages [--chat CHAT_ID]: re-seal records under superseded keys."""

from __future__ import annotations

from typing import Any

from crypto.lifecycle.command import LifecycleCommand, chat_argument
from crypto.lifecycle.operations import Lifecycle, Report


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

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        return lifecycle.reencrypt_messages(chat_id=options["chat"], dry_run=options["dry_run"])
