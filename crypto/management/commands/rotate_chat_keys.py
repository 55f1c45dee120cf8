"""manage.py rotate_chat_keys [--chat CHAT_ID]: give chats a new active key version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from crypto.lifecycle.command import LifecycleCommand, chat_argument
from crypto.lifecycle.operations import Lifecycle, Report
from messages.models import MaintenanceCheckpoint


class Command(LifecycleCommand):
    help = (
        "Creates a new active key version for every chat (or one): new records are sealed with "
        "it, older ones stay readable until reencrypt_messages re-seals them. An interrupted run "
        "resumes where it stopped: chats rotated since it began are not rotated again."
    )
    paced = True

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        name = f"rotate_chat_keys:{options['chat'] if options['chat'] is not None else 'all'}"
        checkpoint = MaintenanceCheckpoint.objects.filter(name=name).first()
        if checkpoint is not None:
            cutoff = datetime.fromisoformat(checkpoint.state["cutoff"])
            self.stderr.write(f"resuming the run begun at {cutoff:%Y-%m-%d %H:%M:%S} UTC")
        else:
            cutoff = timezone.now()
            if not options["dry_run"]:
                MaintenanceCheckpoint.objects.create(
                    name=name, state={"cutoff": cutoff.isoformat()}
                )
        report = lifecycle.rotate_chat_keys(
            chat_id=options["chat"], cutoff=cutoff, dry_run=options["dry_run"]
        )
        if not options["dry_run"] and not report.failed:
            MaintenanceCheckpoint.objects.filter(name=name).delete()
        return report
