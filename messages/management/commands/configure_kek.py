"""manage.py configure_kek: enable, disable or destroy KEK versions, or set the minimum
decryption version."""

from __future__ import annotations

from typing import Any

from crypto.keyrings.base import DESTROYED, DISABLED, ENABLED, KekVersion
from messages.keys.actions import RunOptions, do_configure_kek
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand, confirm_on_terminal

# Each action flag and the KEK version state it sets ("" for the minimum decryption version).
ACTIONS = {
    "enable": ENABLED,
    "disable": DISABLED,
    "destroy": DESTROYED,
    "min_decryption_version": "",
}


class Command(LifecycleCommand):
    help = (
        "Changes KEK versions: --disable (reversible), --enable, --destroy (irreversible; asks "
        "for confirmation unless --yes) or --min-decryption-version (older versions stop "
        "decrypting; on Cloud KMS they are disabled). Refuses a change that would leave chat "
        "keys unreadable unless --force: run rewrap_keys first."
    )

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--enable", metavar="VERSION")
        action.add_argument("--disable", metavar="VERSION")
        action.add_argument("--destroy", metavar="VERSION")
        action.add_argument("--min-decryption-version", metavar="VERSION")
        parser.add_argument("--yes", action="store_true", help="Do not ask to confirm --destroy.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Go ahead even if chat keys are still wrapped under the versions affected.",
        )

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        flag = next(flag for flag in ACTIONS if options[flag])
        return do_configure_kek(
            options[flag],
            ACTIONS[flag],
            force=options["force"],
            confirm=(lambda version: True) if options["yes"] else self.confirm,
            dry_run=options["dry_run"],
            run=run,
        )

    def confirm(self, version: KekVersion) -> bool:
        return confirm_on_terminal(
            self,
            explain="",
            prompt=f"Destroy KEK version {version.label} for good? Type its number: ",
            expected=version.label,
            refusal="destroying a KEK version cannot be undone: pass --yes",
        )
