"""What every key-lifecycle command shares: the lock, progress, the summary line, exit codes
and the audit entry.

Exit codes, for cron and CI: 0 done; 1 failed (the summary and the lines before it say what);
2 bad arguments (Django's); 75 another lifecycle command holds the lock (EX_TEMPFAIL: try
again later).
"""

from __future__ import annotations

import getpass
import socket
import time
from argparse import ArgumentParser
from contextlib import nullcontext
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError

from crypto import services
from crypto.errors import CryptoError
from crypto.lifecycle.locking import Lease, LockHeld, LockLost, maintenance_lock
from crypto.lifecycle.operations import (
    KeysKeptChanging,
    Lifecycle,
    NotInArchive,
    Pacer,
    Report,
)
from crypto.lifecycle.progress import Progress
from messages.models import AuditEntry
from messages.stores import get_store
from messages.stores.base import StoreError

LOCK_HELD = 75
MAX_FAILURE_LINES = 50


class LifecycleCommand(BaseCommand):
    writes = True  # offers --dry-run and records an audit entry when it changes something
    locks = True
    paced = False  # offers --max-rate

    def add_arguments(self, parser: ArgumentParser) -> None:
        if self.writes:
            parser.add_argument(
                "--dry-run", action="store_true", help="Report what would change; change nothing."
            )
        if self.paced:
            parser.add_argument(
                "--max-rate",
                type=float,
                default=0,
                metavar="N",
                help="At most N items per second (e.g. to stay inside a Cloud KMS quota).",
            )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar or progress lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        dry_run = bool(options.get("dry_run"))
        lock = maintenance_lock(self.name) if self.locks and not dry_run else nullcontext()
        try:
            lifecycle = Lifecycle(
                store=get_store(),
                chat_keys=services.chat_keys(),
                # The raw stream: the wrapper ends every write with a newline, which a
                # progress bar redrawing its line with \r cannot have.
                progress=Progress(
                    cast(IO[str], self.stderr._out), enabled=not options["no_progress"]
                ),
                pacer=Pacer(options.get("max_rate") or 0),
            )
            self.before_lock(lifecycle, options)
            with lock as lease:
                if isinstance(lease, Lease):
                    lifecycle.renew = lease.renew
                    if lease.took_over:
                        self.stderr.write(f"took over the lock left by {lease.took_over}")
                report = self.run(lifecycle, options)
        except LockHeld as exc:
            raise CommandError(
                f"{exc}; try again when it has finished", returncode=LOCK_HELD
            ) from None
        except NotInArchive as exc:
            raise CommandError(str(exc)) from None
        except (CryptoError, StoreError, LockLost, KeysKeptChanging) as exc:
            # KeyringError is a CryptoError: an outage, or a key that does not unwrap.
            stopped = f"{self.name} stopped: {type(exc).__name__}: {exc}"
            if self.writes and not dry_run:
                audit(self.name, options, stopped)
            raise CommandError(
                f"{stopped}. Everything it changed is complete and consistent; run it again "
                "to carry on."
            ) from None
        self.finish(report, time.monotonic() - started, options)

    def before_lock(self, lifecycle: Lifecycle, options: dict[str, Any]) -> None:
        """Work before taking the lock, such as asking for confirmation."""

    @property
    def name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    def run(self, lifecycle: Lifecycle, options: dict[str, Any]) -> Report:
        raise NotImplementedError

    def finish(self, report: Report, seconds: float, options: dict[str, Any]) -> None:
        for line in report.notes:
            self.stdout.write(line)
        for line in report.failures[:MAX_FAILURE_LINES]:
            self.stderr.write(f"FAILED {line}")
        if len(report.failures) > MAX_FAILURE_LINES:
            self.stderr.write(f"… and {len(report.failures) - MAX_FAILURE_LINES:,} more failures")
        summary = report.summary(seconds)
        if self.writes and not report.dry_run:
            audit(self.name, options, summary)
        self.stdout.write(summary)
        if report.failed:
            raise CommandError(f"{self.name} finished with {len(report.failures):,} failures")


def audit(command: str, options: dict[str, Any], summary: str) -> None:
    """An entry in the audit log: who ran which lifecycle command, on what, with what result."""
    chat = options.get("chat") or options.get("chat_id")
    AuditEntry.objects.create(
        channel=AuditEntry.COMMAND,
        actor=f"{_user()}@{socket.gethostname()}",
        action=command,
        chat_id=chat,
        filters={"summary": summary},
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return "unknown"


def chat_argument(parser: ArgumentParser, *, positional: bool = False) -> None:
    if positional:
        parser.add_argument("chat_id", type=int, help="The Telegram chat id, e.g. -1001234567890.")
    else:
        parser.add_argument(
            "--chat", type=int, metavar="CHAT_ID", help="Only this chat (default: every chat)."
        )
