"""The archive log's operator actions, each a ``do_*`` function that writes its own audit
entry (as ``messages.keys.actions`` does): checkpointing (and publishing), building the log
of an existing archive, verifying it. Commands, the publishing task and tests call these."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from crypto import note
from crypto.envelope import event_identity, message_identity
from crypto.errors import CryptoError
from groupie import metrics, strictjson
from groupie.progress import Progress
from messages import audit, sealing
from messages.models import LogCheckpoint
from messages.stores import get_store
from messages.stores.base import MessageStore
from messages.stores.records import (
    PendingLeaf,
    SealedEvent,
    SealedRevision,
    event_leaf_key,
    record_leaf_key,
)
from messages.transparency import checkpoints, leaves, log
from messages.transparency.verify import LogReport, verify_log

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointResult:
    sequenced: int
    checkpoint: LogCheckpoint
    published_as: str | None


def do_checkpoint(*, publish: bool = False) -> CheckpointResult:
    """Sequences the pending leaves, signs the tree and keeps the checkpoint; with
    ``publish``, writes it to GROUPIE_CHECKPOINT_STORE too (the scheduled job's run)."""
    store = get_store()
    sequenced = log.sequence(store)
    metrics.LOG_PENDING_LEAVES.inc(sequenced)
    checkpoint = checkpoints.make_checkpoint()
    published = None
    if publish:
        place = checkpoints.checkpoint_store()
        if place is None:
            raise checkpoints_not_configured()
        published = checkpoints.publish(checkpoint, place)
    audit.record_command(
        "checkpoint",
        filters={
            "size": checkpoint.size,
            "root": checkpoint.root.hex(),
            "sequenced": sequenced,
            "published_as": published or "",
        },
    )
    return CheckpointResult(sequenced, checkpoint, published)


def checkpoints_not_configured() -> Exception:
    return ImproperlyConfigured(
        "set GROUPIE_CHECKPOINT_STORE (a directory or gs://BUCKET) to publish checkpoints"
    )


@task()
def publish_checkpoint() -> int:
    """The scheduled publishing (GROUPIE_CHECKPOINT_MINUTES): one checkpoint, published, then
    the next run queued. On Cloud Run a Cloud Scheduler job runs ``checkpoint --publish``
    instead (docs/transparency.md)."""
    result = do_checkpoint(publish=True)
    minutes = settings.GROUPIE_CHECKPOINT_MINUTES
    if minutes:
        later = timezone.now() + timedelta(minutes=minutes)
        publish_checkpoint.using(run_after=later).enqueue()
    return result.checkpoint.size


PUBLISHING_TASK = f"{__name__}.publish_checkpoint"
DATABASE_TASKS = "django_tasks_db.DatabaseBackend"


def ensure_publishing() -> bool:
    """Queues the first ``publish_checkpoint`` of a chain when GROUPIE_CHECKPOINT_STORE is set,
    tasks run from the database (``run_tasks``) and no publishing task is queued or running
    already (so a restarted worker does not start a second chain). Returns whether it queued
    one. Called by the task worker at start: a chain broken by a failed run (the alert
    fires) starts again with the worker."""
    if not settings.GROUPIE_CHECKPOINT_STORE:
        return False
    if settings.TASKS["default"]["BACKEND"] != DATABASE_TASKS:
        return False  # Cloud Run: a Cloud Scheduler job publishes (docs/transparency.md)
    with transaction.atomic():
        waiting = DBTaskResult.objects.filter(
            task_path=PUBLISHING_TASK,
            status__in=(TaskResultStatus.READY, TaskResultStatus.RUNNING),
        )
        if waiting.exists():
            return False
        publish_checkpoint.enqueue()
    logger.info("checkpoint publishing: the first task of the chain queued")
    return True


def do_verify_log(since_note: str | None = None) -> LogReport:
    """Sequences what is pending, then verifies (``messages.transparency.verify``); the
    earlier checkpoint's signature must hold. Audited with its summary."""
    since = None
    if since_note is not None:
        since = note.open_checkpoint(since_note, checkpoints.verifier())
    store = get_store()
    log.sequence(store)
    report = verify_log(store, since)
    audit.record_command("verify_archive --log", filters={"summary": report.summary()})
    return report


@dataclass
class BuildResult:
    revisions: int = 0
    appended: int = 0
    logged_already: int = 0
    unopenable: int = 0
    events: int = 0

    def summary(self) -> str:
        return (
            f"{self.revisions} revisions, {self.events} chat events: "
            f"{self.appended} leaves appended, {self.logged_already} logged already, "
            f"{self.unopenable} could not be opened"
        )


def _revisions(store: MessageStore, chats: list[int]) -> Iterator[SealedRevision]:
    for chat in chats:
        yield from store.iter_revisions(chat)


def do_build_log(*, dry_run: bool, progress: Progress) -> BuildResult:
    """Appends a leaf for every stored revision that has none, chat by chat in (message,
    edit date) order, then for every chat event that has none; resumable (a record logged
    already is skipped). Each record is opened to commit to its content; one that does not
    open is counted and left out."""
    store = get_store()
    chats = sorted(c.chat_id for c in store.list_chats())
    counts = store.count_revisions()
    total = sum(counts.values())
    result = BuildResult()
    batch: list[PendingLeaf] = []
    for key, pending_of in _candidates(store, chats, progress, total, result):
        if log.find(key) is not None:
            result.logged_already += 1
            continue
        pending = pending_of()
        if pending is None:
            result.unopenable += 1
            continue
        result.appended += 1
        if not dry_run:
            batch.append(pending)
            if len(batch) >= 500:
                store.add_pending_leaves(batch)
                batch = []
    if not dry_run:
        store.add_pending_leaves(batch)
        log.sequence(store)
        audit.record_command("build_log", filters={"summary": result.summary()})
    return result


def _candidates(
    store: MessageStore, chats: list[int], progress: Progress, total: int, result: BuildResult
) -> Iterator[tuple[str, Callable[[], PendingLeaf | None]]]:
    """Every stored revision, then every chat event, counted in ``result`` as it comes: its
    leaf key and what makes its pending leaf (None when the record does not open)."""
    for revision in progress.iterate(_revisions(store, chats), total, "revisions"):
        result.revisions += 1
        yield record_leaf_key(*_where(revision)), partial(_pending_record_of, revision)
    for event in _events(store, chats):
        result.events += 1
        key = event_leaf_key(event.chat_id, event.event_id, event.date, event.envelope)
        yield key, partial(_event_leaf_of, event)


def _pending_record_of(revision: SealedRevision) -> PendingLeaf | None:
    leaf = _leaf_of(revision)
    return None if leaf is None else leaves.pending_record(*_where(revision), leaf)


def _events(store: MessageStore, chats: list[int]) -> Iterator[SealedEvent]:
    for chat in chats:
        yield from store.iter_events(chat)


def _event_leaf_of(event: SealedEvent) -> PendingLeaf | None:
    identity = event_identity(event.chat_id, event.kind, event.event_id, event.date)
    try:
        key = sealing.chat_keys().key(event.chat_id, event.key_version)
        body = strictjson.loads_stored(sealing.open_one(identity, event.envelope))
    except (CryptoError, ValueError):
        return None
    leaf = leaves.event_leaf(
        key,
        event.key_version,
        chat_id=event.chat_id,
        kind=event.kind,
        event_id=event.event_id,
        date=event.date,
        envelope=event.envelope,
        event=body,
    )
    return leaves.pending_event(event.chat_id, event.event_id, event.date, event.envelope, leaf)


def _where(revision: SealedRevision) -> tuple[int, int, int, bytes]:
    return revision.chat_id, revision.message_id, revision.edit_date, revision.envelope


def _leaf_of(revision: SealedRevision) -> bytes | None:
    identity = message_identity(revision.chat_id, revision.message_id, revision.edit_date)
    try:
        key = sealing.chat_keys().key(revision.chat_id, revision.key_version)
        plaintext = sealing.open_one(identity, revision.envelope)
        message = strictjson.loads_stored(plaintext)
    except (CryptoError, ValueError):
        return None
    return leaves.record_leaf(
        key,
        revision.key_version,
        chat_id=revision.chat_id,
        message_id=revision.message_id,
        edit_date=revision.edit_date,
        envelope=revision.envelope,
        message=message,
    )
