"""manage.py key_status [--json]: the state of the keys, and what the other commands would do."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from crypto.errors import KeyringError
from groupie.commands import ArchiveCommand
from messages.keys.actions import do_key_status
from messages.keys.status import render
from messages.stores.records import StoreError


class Command(ArchiveCommand):
    help = (
        "Reports KEK versions and their states, chat keys per KEK version and state, records "
        "per chat-key version, and what rewrap_keys and reencrypt_messages would do. Reads only, "
        "so it runs beside any other command. Exits 1 if the store or keyring cannot be read."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = do_key_status()
        except (KeyringError, StoreError) as exc:
            raise CommandError(f"key_status could not read the keys: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(status.as_dict(), indent=2))
        else:
            for line in render(status):
                self.stdout.write(line)
