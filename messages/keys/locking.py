"""One lease at a time for the key-lifecycle commands, held in the Django database.

The commands may run on different machines against one archive (a Cloud Run job and a laptop),
so the lock is a row with an expiry that the holder renews as it works, and a random token that
names the run (hosts and pids repeat across containers). A run that is killed leaves its row to
expire; a run on the same host takes it over at once when the holder's process is gone, so
"kill it and run it again" just works. A run whose lease was taken over finds out at its next
renewal and stops.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from messages.models import MaintenanceLock

NAME = "key-lifecycle"
LEASE = timedelta(minutes=5)
RENEW_AFTER = timedelta(seconds=30)


class LockHeld(Exception):
    """Another run holds the lock."""


class LockLost(Exception):
    """The lease expired and another run took it: stop before doing anything more."""


@dataclass
class Lease:
    command: str
    host: str
    pid: int
    token: str = field(default_factory=lambda: secrets.token_hex(16))  # this run, exactly
    renewed_at: datetime = field(default_factory=timezone.now)
    took_over: str | None = None  # who held the lock before, if it was taken over

    def renew(self) -> None:
        """Extends the lease when it is due; cheap enough to call per item."""
        now = timezone.now()
        if now - self.renewed_at < RENEW_AFTER:
            return
        renewed = MaintenanceLock.objects.filter(name=NAME, token=self.token).update(
            expires_at=now + LEASE
        )
        if not renewed:
            raise LockLost(f"{self.command} lost the {NAME} lock; nothing more will be changed")
        self.renewed_at = now


def describe(row: MaintenanceLock) -> str:
    return (
        f"{row.command} on {row.host} (pid {row.pid}) since "
        f"{row.acquired_at:%Y-%m-%d %H:%M:%S} UTC, lease until {row.expires_at:%H:%M:%S} UTC"
    )


def current_holder() -> MaintenanceLock | None:
    row = MaintenanceLock.objects.filter(name=NAME).first()
    return row if row is not None and row.expires_at > timezone.now() else None


@contextmanager
def maintenance_lock(command: str) -> Iterator[Lease]:
    lease = Lease(command=command, host=socket.gethostname(), pid=os.getpid())
    now = timezone.now()
    fields = {
        "command": command,
        "host": lease.host,
        "pid": lease.pid,
        "token": lease.token,
        "acquired_at": now,
        "expires_at": now + LEASE,
    }
    try:
        with transaction.atomic():
            row = MaintenanceLock.objects.select_for_update().filter(name=NAME).first()
            if row is None:
                MaintenanceLock.objects.create(name=NAME, **fields)
            elif row.expires_at <= now or (row.host == lease.host and not _alive(row.pid)):
                lease.took_over = describe(row)
                MaintenanceLock.objects.filter(name=NAME).update(**fields)
            else:
                raise LockHeld(f"another key-lifecycle command is running: {describe(row)}")
    except IntegrityError:  # created by another run between our read and our insert
        raise LockHeld("another key-lifecycle command started at the same moment") from None
    try:
        yield lease
    finally:
        MaintenanceLock.objects.filter(name=NAME, token=lease.token).delete()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
