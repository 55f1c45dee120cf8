"""manage.py import_telegramgroupie: migrate the Flask prototype's archive into groupie."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from crypto.errors import CryptoError
from groupie.commands import ArchiveCommand, counted
from groupie.progress import Progress
from messages import audit
from messages.importing import Tally
from messages.legacy_import import BadDocument, KeyCannotDecrypt, LegacyReader
from messages.stores.records import StoreError


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
        tally = Tally()
        progress = Progress(sys.stderr)
        try:
            total = reader.count()
            for document in progress.iterate(reader.documents(), total, "documents"):
                try:
                    message = reader.message(document)
                except BadDocument as exc:
                    tally.skip(str(exc))
                    continue
                where = f"document {options['collection']}/{document.id}"
                tally.archive(message, where, dry_run=options["dry_run"])
        except KeyCannotDecrypt as exc:
            raise CommandError(str(exc)) from None
        except (StoreError, CryptoError) as exc:
            raise CommandError(
                f"the archive is unavailable ({type(exc).__name__}) after "
                f"{counted(tally.counts['imported'], 'message')}; run again: it continues"
            ) from None
        for line in tally.skipped_lines():
            self.stderr.write(line)
        summary = (
            f"{counted(sum(tally.counts.values()), 'document')}: "
            f"{tally.counted(dry_run=options['dry_run'])}; "
            f"{counted(reader.decrypt_calls, 'Cloud KMS Decrypt call')} (one per document: the "
            "old format)"
        )
        if not options["dry_run"]:
            audit.record_command("import_telegramgroupie", filters={"summary": summary})
        self.stdout.write(f"import_telegramgroupie: {summary}")
