"""manage.py rotate_kek [--dry-run]: a new primary KEK version."""

from __future__ import annotations

from typing import Any

from messages.keys.actions import RunOptions, do_rotate_kek
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand


class Command(LifecycleCommand):
    help = (
        "Creates a new KEK version and makes it primary: new chat keys are wrapped under it. "
        "Existing chat keys stay readable under their version until rewrap_keys moves them."
    )

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_rotate_kek(dry_run=options["dry_run"], run=run)
