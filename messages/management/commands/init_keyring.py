"""Creates the local keyring file (mode 0600) if it does not exist yet. Idempotent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from messages.sealing import get_keyring


class Command(BaseCommand):
    help = "Create the local keyring (LOCAL_KEYRING_PATH) with one KEK version, if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        said = get_keyring().create()
        if said is None:
            # Cloud KMS keys are created with gcloud (docs/backends.md): nothing to do here.
            said = (
                f"GROUPIE_KEYRING is {settings.GROUPIE_KEYRING['BACKEND']}: no local keyring "
                "to create."
            )
        self.stdout.write(said)
