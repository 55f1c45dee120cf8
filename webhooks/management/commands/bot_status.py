"""manage.py bot_status [--json] [--check]: what the bot can see in every archived chat.

Exit codes: 0, or 1 with --check when a chat is blind or the bot was removed from one (for a
scheduled job); a Bot API failure (a wrong token, Telegram unreachable) is a CommandError."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages import audit
from webhooks.bot_status import gather
from webhooks.botapi import BotApi, BotApiError


class Command(ArchiveCommand):
    help = (
        "Shows whether the bot reads all group messages (getMe), its membership in every "
        "archived chat (getChatMember), whether it sees every message there, the last update "
        "archived, Telegram's backlog and the gaps in update_id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON object.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit 1 when any archived chat is blind or the bot was removed from it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = gather(BotApi())
        except BotApiError as exc:
            raise CommandError(str(exc)) from None
        audit.record_command("bot-status")  # it shows the chats' titles, decrypted
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), ensure_ascii=False))
        else:
            self._print(report)
        problems = report.problems()
        if options["check"] and problems:
            raise CommandError(
                f"{len(problems)} chat(s) blind or without the bot: "
                + ", ".join(str(c.chat_id) for c in problems),
                returncode=1,
            )

    def _print(self, report: Any) -> None:
        privacy = (
            "off (reads all group messages)"
            if report.can_read_all_group_messages
            else ("ON (sees only commands, replies and mentions where it is not an administrator)")
        )
        self.stdout.write(f"privacy mode: {privacy}")
        pending = report.pending_update_count
        self.stdout.write(f"pending at Telegram: {'unknown' if pending is None else pending}")
        self.stdout.write(f"update_id gaps (last day, a signal): {report.update_gaps}")
        for chat in report.chats:
            sight = "sees all" if chat.sees_all_messages else "BLIND"
            self.stdout.write(
                f"{chat.chat_id}  {chat.bot_status or 'unknown':<13} {sight:<8} "
                f"last update {chat.last_update or 'never'}  {chat.title or ''}"
                + (f"  ({chat.error})" if chat.error else "")
            )
        problems = report.problems()
        self.stdout.write(f"{len(report.chats)} chat(s), {len(problems)} blind or without the bot")
