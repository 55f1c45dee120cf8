"""manage.py set_webhook URL: register groupie's webhook with Telegram."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser

from groupie.commands import ArchiveCommand
from messages.management.base import action_errors
from webhooks.actions import do_set_webhook

WEBHOOK_PATH = "/telegram/webhook/"
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class Command(ArchiveCommand):
    help = (
        "Registers the webhook with Telegram: URL (the service's HTTPS address; "
        f"{WEBHOOK_PATH} is added to a bare one), WEBHOOK_SECRET as secret_token, and exactly "
        "the update kinds groupie archives. Then shows what Telegram reports."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help=f"e.g. https://archive.example.org (+{WEBHOOK_PATH})")
        parser.add_argument(
            "--max-connections",
            type=int,
            default=40,
            help="Simultaneous deliveries Telegram may make, 1-100 (default 40).",
        )
        parser.add_argument(
            "--drop-pending-updates",
            action="store_true",
            help="Discard the updates Telegram holds (they are then never archived).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = webhook_url(options["url"])
        if not _SECRET_TOKEN.match(settings.WEBHOOK_SECRET):
            raise CommandError(
                "WEBHOOK_SECRET must be 1-256 of A-Z a-z 0-9 _ - to be Telegram's secret_token"
            )
        with action_errors():
            do_set_webhook(
                url,
                max_connections=options["max_connections"],
                drop_pending_updates=options["drop_pending_updates"],
            )
        self.stdout.write(f"webhook set to {url}")
        call_command("webhook_info", stdout=self.stdout)


def webhook_url(given: str) -> str:
    """The webhook's URL from what an operator typed: HTTPS only, the path added if bare."""
    parts = urlsplit(given.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise CommandError(
            f"{given!r}: Telegram delivers webhooks to https:// URLs only. For a machine "
            "without one, use poll_updates instead."
        )
    path = parts.path if parts.path not in ("", "/") else WEBHOOK_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
