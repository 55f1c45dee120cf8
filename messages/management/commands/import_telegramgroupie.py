"""manage.py import_telegramgroupie: migrate the Flask prototype's archive into groupie."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from messages.legacy_import import LegacyReader, do_import_telegramgroupie
from messages.management.base import action_errors, print_outcome, progress_for


class Command(ArchiveCommand):
    help = (
        "Reads the Flask prototype's Firestore messages, opens each with the prototype's Cloud "
        "KMS key (one Decrypt per message: its format wraps a key per message) and archives it "
        "under groupie's own keys. Safe to run again: nothing is added twice, and the copies the "
        "prototype stored for every redelivery become one message."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="The prototype's GCP project.")
        parser.add_argument("--database", default="(default)", help="Its Firestore database.")
        parser.add_argument("--collection", default="messages", help="Its collection.")
        parser.add_argument(
            "--kms-key", required=True, help="The prototype's key: projects/P/locations/L/…"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Open everything, store nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reader = LegacyReader(
            project=options["project"],
            database=options["database"],
            collection=options["collection"],
            kms_key=options["kms_key"],
            kms_endpoint=settings.KMS_ENDPOINT,
        )
        with action_errors():
            outcome = do_import_telegramgroupie(
                reader, dry_run=options["dry_run"], progress=progress_for(self)
            )
        print_outcome(self, outcome)
