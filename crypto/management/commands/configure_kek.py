"""manage.py configure_kek: enable, disable or destroy KEK versions, or set the minimum
decryption version."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError

from crypto.chatkeys import OPENABLE
from crypto.keyrings.base import DESTROYED, DISABLED, ENABLED, KekVersion
from crypto.lifecycle.command import LifecycleCommand
from crypto.lifecycle.operations import Lifecycle, Report


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

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        keyring = lifecycle.keyring
        report = Report("configure_kek", dry_run=options["dry_run"])
        if options["enable"]:
            target, state = keyring.version_of(options["enable"]), ENABLED
        elif options["disable"]:
            target, state = keyring.version_of(options["disable"]), DISABLED
        elif options["destroy"]:
            target, state = keyring.version_of(options["destroy"]), DESTROYED
        else:
            target, state = keyring.version_of(options["min_decryption_version"]), ""
        affected = (
            [target]
            if state
            else [v for v in keyring.versions() if v.decrypts and _number(v) < _number(target)]
        )
        if state != ENABLED:
            self.check_unused(lifecycle, affected, force=options["force"])
        what = (
            f"KEK version {target.label}: {target.state} -> {state}"
            if state
            else f"minimum decryption version {target.label}: versions "
            f"{', '.join(v.label for v in affected) or '(none)'} stop decrypting"
        )
        if options["dry_run"]:
            report.notes.append(f"would set {what}")
            return report
        if state == DESTROYED and not options["yes"]:
            self.confirm(target)
        if state:
            keyring.set_state(target.version, state)
            changed = 1
        else:
            changed = len(keyring.set_min_decryption_version(target.version))
        report.notes.append(f"set {what}")
        report.counts["KEK versions changed"] = changed
        return report

    def check_unused(
        self, lifecycle: Lifecycle, versions: list[KekVersion], *, force: bool
    ) -> None:
        labels = {v.label for v in versions}
        using = sum(
            1
            for r in lifecycle.store.iter_chat_keys()
            if r.state in OPENABLE and r.kek_version.rsplit("/", 1)[-1] in labels
        )
        if using and not force:
            raise CommandError(
                f"{using:,} chat keys are still wrapped under KEK version "
                f"{', '.join(sorted(labels))}: their chats would become unreadable. Run "
                "rewrap_keys first (or pass --force if that is what you want)."
            )

    def confirm(self, target: KekVersion) -> None:
        if not sys.stdin.isatty():
            raise CommandError("destroying a KEK version cannot be undone: pass --yes")
        answer = input(f"Destroy KEK version {target.label} for good? Type its number: ").strip()
        if answer != target.label:
            raise CommandError("not confirmed: nothing was changed")


def _number(version: KekVersion) -> int:
    return int(version.label)
