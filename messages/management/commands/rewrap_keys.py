"""manage.py rewrap_keys: rewrap chat keys that are not under the primary KEK version."""

from __future__ import annotations

from typing import Any

from messages.keys.actions import RunOptions, do_rewrap_keys
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand


class Command(LifecycleCommand):
    help = (
        "Rewraps every chat key not under the primary KEK version (after rotate_kek or a Cloud "
        "KMS automatic rotation): two keyring calls per chat key, no message record touched."
    )
    paced = True

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_rewrap_keys(dry_run=options["dry_run"], run=run)
