"""manage.py grant_chat_access: who reads which chats (grants; see docs/access.md)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand, counted
from messages.grants import do_grant_chat_access, do_revoke_chat_access
from messages.management.base import action_errors


class Command(ArchiveCommand):
    help = (
        "Lets a user, or every member of a group, read chats decrypted (they also need the "
        "archive.view_decrypted permission; superusers need no grant). Usage: "
        "grant_chat_access USERNAME CHAT_ID... | grant_chat_access USERNAME --all-chats | "
        "grant_chat_access --group NAME CHAT_ID... | grant_chat_access --group NAME "
        "--all-chats; add --revoke to take a grant back. With --group every positional "
        "argument is a chat id. Audited; takes effect on the next request."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "names",
            nargs="*",
            metavar="USERNAME CHAT_ID",
            help="The user (left out with --group), then the chat ids, e.g. -1001234567890.",
        )
        parser.add_argument("--group", metavar="NAME", help="Grant to this group, not a user.")
        parser.add_argument(
            "--all-chats", action="store_true", help="Every chat, present and future."
        )
        parser.add_argument("--revoke", action="store_true", help="Take the grant(s) back.")

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = list(options["names"])
        user = group = None
        if options["group"] is not None:
            group = Group.objects.filter(name=options["group"]).first()
            if group is None:
                raise CommandError(f"no group named {options['group']!r}: nothing was changed")
            who = f"group {group.name}"
        else:
            if not names:
                raise CommandError("name a user (USERNAME) or a group (--group NAME)")
            username = names.pop(0)
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user named {username!r}: nothing was changed")
            who = f"user {username}"
        chat_ids = [_chat_id(name) for name in names]
        choice: dict[str, Any] = {"chat_ids": chat_ids, "all_chats": options["all_chats"]}
        what = "every chat" if options["all_chats"] else counted(len(chat_ids), "chat")
        with action_errors():
            if options["revoke"]:
                revoked = do_revoke_chat_access(user=user, group=group, **choice)
                self.stdout.write(f"{who}: {counted(revoked, 'grant')} revoked ({what} named)")
            else:
                made = do_grant_chat_access(user=user, group=group, **choice)
                held = "" if made else " (already held)"
                self.stdout.write(f"{who}: may read {what}{held}")


def _chat_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a chat id (a number, e.g. -1001234567890)") from None
