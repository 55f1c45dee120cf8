"""manage.py key_status [--json]: the state of the keys, and what the other commands would do."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crypto import services
from crypto.errors import KeyringError
from crypto.lifecycle.status import key_status, render
from messages.stores import get_store
from messages.stores.base import StoreError


class Command(BaseCommand):
    help = (
        "Reports KEK versions and their states, chat keys per KEK version and state, records "
        "per chat-key version, and what rewrap_keys and reencrypt_messages would do. Reads only, "
        "so it runs beside any other command. Exits 1 if the store or keyring cannot be read."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        keyring = settings.GROUPIE_KEYRING
        description = f"{keyring['BACKEND'].rsplit('.', 1)[-1]} " + ", ".join(
            f"{k}={v}" for k, v in keyring.get("OPTIONS", {}).items() if k in ("path", "key_name")
        )
        try:
            status = key_status(get_store(), services.get_keyring(), description.strip())
        except (KeyringError, StoreError) as exc:
            raise CommandError(f"key_status could not read the keys: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(status.as_dict(), indent=2))
        else:
            for line in render(status):
                self.stdout.write(line)
