"""manage.py shred_chat CHAT_ID [--yes] [--dry-run]: erase a chat for good."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from messages.keys.actions import RunOptions, do_shred_chat
from messages.keys.operations import Report, noun
from messages.management.base import LifecycleCommand, chat_argument, confirm_on_terminal


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

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        chat_id = options["chat_id"]
        if not options["yes"] and not options["dry_run"]:
            # Asked before the lock is taken: an operator thinking it over blocks no one.
            self.confirm(chat_id, do_shred_chat(chat_id, dry_run=True))
        return do_shred_chat(chat_id, dry_run=options["dry_run"], run=run)

    def confirm(self, chat_id: int, plan: Report) -> None:
        details = ", ".join(f"{n:,} {noun(what, n)}" for what, n in plan.counts.items())
        confirmed = confirm_on_terminal(
            self,
            explain=f"This erases chat {chat_id} for good: {details}.",
            prompt=f"Type the chat id ({chat_id}) to confirm: ",
            expected=str(chat_id),
            refusal="shred_chat cannot be undone: pass --yes to run it without a terminal",
        )
        if not confirmed:
            raise CommandError("not confirmed: nothing was changed")
