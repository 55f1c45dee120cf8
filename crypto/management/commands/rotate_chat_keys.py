"""manage.py rotate_chat_keys [--chat CHAT_ID]: give chats a new active key version."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from crypto.lifecycle.command import LifecycleCommand, chat_argument
from crypto.lifecycle.operations import Lifecycle, Report
from messages.models import MaintenanceCheckpoint

# An interrupted run is resumed within a day; after that a new run starts afresh.
RESUME_WITHIN = timedelta(days=1)


class Command(LifecycleCommand):
    help = (
        "Creates a new active key version for every chat (or one): new records are sealed with "
        "it, older ones stay readable until reencrypt_messages re-seals them. Run again within a "
        "day, an interrupted run resumes where it stopped: chats it rotated are not rotated again."
    )
    paced = True

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)
        parser.add_argument(
            "--restart",
            action="store_true",
            help="Do not resume an interrupted run: rotate every chat again.",
        )

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        name = f"rotate_chat_keys:{options['chat'] if options['chat'] is not None else 'all'}"
        notes: list[str] = []
        cutoff = timezone.now()
        checkpoint = MaintenanceCheckpoint.objects.filter(name=name).first()
        if checkpoint is not None:
            begun = datetime.fromisoformat(checkpoint.state["cutoff"])
            if options["restart"] or cutoff - begun > RESUME_WITHIN:
                notes.append(
                    f"not resuming the interrupted run begun at {begun:%Y-%m-%d %H:%M} UTC"
                )
            else:
                cutoff = begun
                notes.append(
                    f"resuming the run begun at {begun:%Y-%m-%d %H:%M:%S} UTC: chats it rotated "
                    "are not rotated again (--restart to rotate them all)"
                )
        if not options["dry_run"]:
            MaintenanceCheckpoint.objects.update_or_create(
                name=name, defaults={"state": {"cutoff": cutoff.isoformat()}}
            )
        report = lifecycle.rotate_chat_keys(
            chat_id=options["chat"], cutoff=cutoff, dry_run=options["dry_run"]
        )
        report.notes[:0] = notes
        if not options["dry_run"] and not report.failed:
            MaintenanceCheckpoint.objects.filter(name=name).delete()
        return report
