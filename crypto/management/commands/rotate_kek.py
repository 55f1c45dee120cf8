"""manage.py rotate_kek [--dry-run]: a new primary KEK version."""

from __future__ import annotations

from typing import Any

from crypto.chatkeys import OPENABLE
from crypto.lifecycle.command import LifecycleCommand
from crypto.lifecycle.operations import Lifecycle, Report


class Command(LifecycleCommand):
    help = (
        "Creates a new KEK version and makes it primary: new chat keys are wrapped under it. "
        "Existing chat keys stay readable under their version until rewrap_keys moves them."
    )

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        report = Report("rotate_kek", dry_run=options["dry_run"])
        keyring = lifecycle.keyring
        stale = sum(1 for r in lifecycle.store.iter_chat_keys() if r.state in OPENABLE)
        if options["dry_run"]:
            current = keyring.version_of(keyring.primary_version()).label
            report.notes.append(
                f"would create a KEK version to follow version {current} as primary; "
                f"rewrap_keys would then move {stale:,} chat keys"
            )
            return report
        primary = keyring.version_of(keyring.rotate())
        report.notes.append(
            f"KEK version {primary.label} is now primary. Run rewrap_keys to move the "
            f"{stale:,} chat keys wrapped under older versions."
        )
        report.counts["KEK versions created"] = 1
        report.counts["chat keys to rewrap"] = stale
        return report
