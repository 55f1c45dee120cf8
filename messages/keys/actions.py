"""The key-lifecycle actions: one ``do_*`` function per operator command (zulip's actions).

Each takes the lock that keeps two lifecycle runs apart (not for a dry run, nor key_status),
runs its operation on the configured store and keyring, times it, and writes
an audit entry with its summary, or with why it stopped. The manage.py commands of the same
names only parse arguments, call one of these and print the report, so a new caller (a Cloud
Run job, a test) gets the same lock, checkpoints and audit trail.

Raised to the caller: ``LockHeld`` (another run holds the lock), ``NotInArchive``,
``Refused`` (the change would do harm; nothing was changed), and the errors that stop a run part
way (``STOPPING_ERRORS``), after the stop is audited: everything changed until then is complete
and consistent, and running the command again carries on.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from crypto.chatkeys import OPENABLE
from crypto.errors import CryptoError
from crypto.keyrings.base import DESTROYED, DISABLED, ENABLED, KekVersion
from groupie import metrics
from groupie.commands import counted
from groupie.progress import Progress
from messages import audit, sealing
from messages.access import hold_text, legal_hold
from messages.keys.locking import Lease, LockLost, maintenance_lock
from messages.keys.operations import KeysKeptChanging, Lifecycle, Pacer, Report
from messages.keys.status import Status, key_status
from messages.models import MaintenanceCheckpoint
from messages.stores import get_store
from messages.stores.records import StoreError

logger = logging.getLogger(__name__)

# CryptoError includes KeyringError: an outage, or a key that does not unwrap.
STOPPING_ERRORS = (CryptoError, StoreError, LockLost, KeysKeptChanging)
# An interrupted rotate_chat_keys is resumed within a day; after that a new run starts afresh.
RESUME_WITHIN = timedelta(days=1)


class Refused(Exception):
    """The change asked for would do harm (e.g. leave chat keys unreadable): nothing changed."""


@dataclass(frozen=True)
class RunOptions:
    """How a run reports and paces itself; the same for every action."""

    progress: Progress = field(default_factory=lambda: Progress(sys.stderr, enabled=False))
    max_rate: float = 0  # items per second, 0 for no limit (e.g. a Cloud KMS quota)


def _perform(
    command: str,
    operation: Callable[[Lifecycle], Report],
    run: RunOptions,
    *,
    dry_run: bool = False,
    chat_id: int | None = None,
    writes: bool = True,
) -> Report:
    started = time.monotonic()
    lifecycle = Lifecycle(
        store=get_store(),
        chat_keys=sealing.chat_keys(),
        progress=run.progress,
        pacer=Pacer(run.max_rate),
    )
    audited = writes and not dry_run
    # verify_archive writes nothing but takes the lock too: what it reads must hold still.
    lock = maintenance_lock(command) if not dry_run else nullcontext()
    try:
        with lock as lease:
            took_over = None
            if isinstance(lease, Lease):
                lifecycle.renew = lease.renew
                took_over = lease.took_over
            report = operation(lifecycle)
    except STOPPING_ERRORS as exc:
        if audited:
            _audit(command, chat_id, f"{command} stopped: {type(exc).__name__}: {exc}")
        _finished(command, "error", chat_id, started, error=type(exc).__name__)
        raise
    if took_over:
        report.warnings.insert(0, f"took over the lock left by {took_over}")
    report.seconds = time.monotonic() - started
    if audited and not report.dry_run:
        _audit(command, chat_id, report.summary())
    _finished(command, "failed" if report.failed else "ok", chat_id, started)
    return report


def _finished(
    command: str, outcome: str, chat_id: int | None, started: float, error: str | None = None
) -> None:
    """Counts the run, and logs it: a job in a process of its own (a Cloud Run job) is never
    scraped, so its log line is what a log-based metric or alert sees."""
    metrics.COMMAND_RUNS.labels(command, outcome).inc()
    log = logger.error if outcome in ("failed", "error") else logger.info
    log(
        "%s finished: %s",
        command,
        outcome,
        extra={
            "command": command,
            "outcome": outcome,
            "chat_id": chat_id,
            "error": error,
            "processing_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )


def _audit(command: str, chat_id: int | None, summary: str) -> None:
    """Who ran which lifecycle command, on what, with what result."""
    audit.record_command(command, chat_id=chat_id, filters={"summary": summary})


# -- reading ----------------------------------------------------------------------------------


def do_key_status() -> Status:
    """KEK versions, chat keys by KEK version and state, records by chat-key version, and the
    work rewrap_keys and reencrypt_messages would do. Reads only: takes no lock."""
    configured = settings.GROUPIE_KEYRING
    options = configured.get("OPTIONS", {})
    description = f"{configured['BACKEND'].rsplit('.', 1)[-1]} " + ", ".join(
        f"{k}={v}" for k, v in options.items() if k in ("path", "key_name")
    )
    return key_status(get_store(), sealing.get_keyring(), description.strip())


def do_verify_archive(*, chat_id: int | None = None, run: RunOptions | None = None) -> Report:
    """Opens every revision, head and title, and checks every chat's keys. Takes no lock."""
    return _perform(
        "verify_archive",
        lambda lc: lc.verify_archive(chat_id=chat_id),
        run or RunOptions(),
        chat_id=chat_id,
        writes=False,
    )


# -- KEK versions -----------------------------------------------------------------------------


def do_rotate_kek(*, dry_run: bool = False, run: RunOptions | None = None) -> Report:
    """A new KEK version, made primary; chat keys move to it with rewrap_keys."""

    def rotate(lifecycle: Lifecycle) -> Report:
        report = Report("rotate_kek", dry_run=dry_run)
        keyring = lifecycle.keyring
        stale = sum(1 for r in lifecycle.store.iter_chat_keys() if r.state in OPENABLE)
        if dry_run:
            current = keyring.version_of(keyring.primary_version()).label
            report.notes.append(
                f"would create a KEK version to follow version {current} as primary; "
                f"rewrap_keys would then move {counted(stale, 'chat key')}"
            )
            return report
        primary = keyring.version_of(keyring.rotate())
        report.notes.append(
            f"KEK version {primary.label} is now primary. Run rewrap_keys to move the "
            f"{counted(stale, 'chat key')} wrapped under older versions."
        )
        report.counts["KEK versions created"] = 1
        report.counts["chat keys to rewrap"] = stale
        return report

    return _perform("rotate_kek", rotate, run or RunOptions(), dry_run=dry_run)


def do_configure_kek(
    version: str,
    state: str,
    *,
    force: bool = False,
    confirm: Callable[[KekVersion], bool] = lambda version: False,
    dry_run: bool = False,
    run: RunOptions | None = None,
) -> Report:
    """Sets a KEK version's ``state`` (ENABLED, DISABLED or DESTROYED), or, with ``state`` "",
    makes ``version`` the minimum decryption version. Raises Refused when chat keys are still
    wrapped under a version that would stop decrypting (unless ``force``), and before destroying
    a version unless ``confirm(version)`` says yes."""

    def configure(lifecycle: Lifecycle) -> Report:
        keyring = lifecycle.keyring
        report = Report("configure_kek", dry_run=dry_run)
        target = keyring.version_of(version)
        affected = (
            [target]
            if state
            else [v for v in keyring.versions() if v.decrypts and _number(v) < _number(target)]
        )
        if state != ENABLED:
            _refuse_if_used(lifecycle, affected, force=force)
        what = (
            f"KEK version {target.label}: {target.state} -> {state}"
            if state
            else f"minimum decryption version {target.label}: versions "
            f"{', '.join(v.label for v in affected) or '(none)'} stop decrypting"
        )
        if dry_run:
            report.notes.append(f"would set {what}")
            return report
        if state == DESTROYED and not confirm(target):
            raise Refused("not confirmed: nothing was changed")
        if state:
            keyring.set_state(target.version, state)
            changed = 1
        else:
            changed = len(keyring.set_min_decryption_version(target.version))
        report.notes.append(f"set {what}")
        report.counts["KEK versions changed"] = changed
        return report

    if state not in ("", ENABLED, DISABLED, DESTROYED):
        raise ValueError(f"unknown KEK version state {state!r}")
    return _perform("configure_kek", configure, run or RunOptions(), dry_run=dry_run)


def _refuse_if_used(lifecycle: Lifecycle, versions: list[KekVersion], *, force: bool) -> None:
    labels = {v.label for v in versions}
    using = sum(
        1
        for r in lifecycle.store.iter_chat_keys()
        if r.state in OPENABLE and r.kek_version.rsplit("/", 1)[-1] in labels
    )
    if using and not force:
        raise Refused(
            f"{counted(using, 'chat key')} {'is' if using == 1 else 'are'} still wrapped under "
            "KEK version "
            f"{', '.join(sorted(labels))}: their chats would become unreadable. Run "
            "rewrap_keys first (or pass --force if that is what you want)."
        )


def _number(version: KekVersion) -> int:
    return int(version.label)


def do_rewrap_keys(*, dry_run: bool = False, run: RunOptions | None = None) -> Report:
    """Rewraps every chat key not under the primary KEK version; no message record touched."""
    return _perform(
        "rewrap_keys",
        lambda lc: lc.rewrap_keys(dry_run=dry_run),
        run or RunOptions(),
        dry_run=dry_run,
    )


# -- chat keys --------------------------------------------------------------------------------


def do_rotate_chat_keys(
    *,
    chat_id: int | None = None,
    restart: bool = False,
    dry_run: bool = False,
    run: RunOptions | None = None,
) -> Report:
    """A new active key version for every chat (or one). A run interrupted less than a day ago
    is resumed from its checkpoint, so chats it rotated are not rotated again, unless
    ``restart``."""
    name = f"rotate_chat_keys:{chat_id if chat_id is not None else 'all'}"

    def rotate(lifecycle: Lifecycle) -> Report:
        notes: list[str] = []
        cutoff = timezone.now()
        checkpoint = MaintenanceCheckpoint.objects.filter(name=name).first()
        if checkpoint is not None:
            cutoff, note = _resumed_cutoff(checkpoint, cutoff, restart=restart)
            notes.append(note)
        if not dry_run:
            MaintenanceCheckpoint.objects.update_or_create(
                name=name, defaults={"state": {"cutoff": cutoff.isoformat()}}
            )
        report = lifecycle.rotate_chat_keys(chat_id=chat_id, cutoff=cutoff, dry_run=dry_run)
        report.notes[:0] = notes
        if not dry_run and not report.failed:
            MaintenanceCheckpoint.objects.filter(name=name).delete()
        return report

    return _perform(
        "rotate_chat_keys", rotate, run or RunOptions(), dry_run=dry_run, chat_id=chat_id
    )


def _resumed_cutoff(
    checkpoint: MaintenanceCheckpoint, now: datetime, *, restart: bool
) -> tuple[datetime, str]:
    begun = datetime.fromisoformat(checkpoint.state["cutoff"])
    if restart or now - begun > RESUME_WITHIN:
        return now, f"not resuming the interrupted run begun at {begun:%Y-%m-%d %H:%M} UTC"
    return begun, (
        f"resuming the run begun at {begun:%Y-%m-%d %H:%M:%S} UTC: chats it rotated "
        "are not rotated again (--restart to rotate them all)"
    )


def do_reencrypt_messages(
    *, chat_id: int | None = None, dry_run: bool = False, run: RunOptions | None = None
) -> Report:
    """Re-seals records under superseded key versions, then retires those versions."""
    return _perform(
        "reencrypt_messages",
        lambda lc: lc.reencrypt_messages(chat_id=chat_id, dry_run=dry_run),
        run or RunOptions(),
        dry_run=dry_run,
        chat_id=chat_id,
    )


def do_compact_envelopes(
    *, chat_id: int | None = None, dry_run: bool = False, run: RunOptions | None = None
) -> Report:
    """Deletes the revision records that repeat their head's version (an archive stored
    before each version's envelope was kept once); resumable, audited."""
    return _perform(
        "compact_envelopes",
        lambda lc: lc.compact_envelopes(chat_id=chat_id, dry_run=dry_run),
        run or RunOptions(),
        dry_run=dry_run,
        chat_id=chat_id,
    )


def do_shred_chat(chat_id: int, *, dry_run: bool = False, run: RunOptions | None = None) -> Report:
    """Destroys every version of the chat's key, then deletes its records and asks the store to
    erase what deleted records leave behind. Run again after an interruption, it finishes.
    Refuses (Refused, nothing changed) a chat under legal hold."""
    hold = legal_hold(chat_id)
    if hold is not None:
        raise Refused(f"{hold_text(hold)}: release it first (set_legal_hold {chat_id} --release)")
    return _perform(
        "shred_chat",
        lambda lc: lc.shred_chat(chat_id, dry_run=dry_run),
        run or RunOptions(),
        dry_run=dry_run,
        chat_id=chat_id,
    )
