"""Creates the local keyring file (mode 0600) if it does not exist yet. Idempotent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from crypto.keyrings.local import LocalKeyring
from messages.sealing import get_keyring


class Command(BaseCommand):
    help = "Create the local keyring (LOCAL_KEYRING_PATH) with one KEK version, if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        keyring = get_keyring()
        if not isinstance(keyring, LocalKeyring):
            # Cloud KMS keys are created with gcloud (docs/backends.md): nothing to do here.
            self.stdout.write(
                f"GROUPIE_KEYRING is {settings.GROUPIE_KEYRING['BACKEND']}: no local keyring "
                "to create."
            )
            return
        if LocalKeyring.create_file(keyring.path):
            self.stdout.write(f"Created keyring {keyring.path} (mode 0600, KEK version 1).")
        else:
            versions = keyring.versions()
            self.stdout.write(
                f"Keyring {keyring.path} already exists ({len(versions)} KEK version(s), "
                f"primary {keyring.primary_version()})."
            )
