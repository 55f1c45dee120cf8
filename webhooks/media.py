"""Fetching the files of archived messages from the Bot API, off the request path.

The webhook (or poll_updates) archives a message, notes its file and enqueues ``fetch_media``
with Django's task framework; Telegram's answer never waits for a download. The task runs in
``manage.py run_tasks`` (one box) or is called back by Cloud Tasks (Cloud Run). It asks
``getFile`` for the file's path, streams the download into the sealed media store, and:

- retries a transient failure (Telegram down or rate-limiting, our store or keyring down) with
  growing waits, BACKOFF_SECONDS, by enqueuing itself again to run later; after the last one
  the file is ``failed``: shown as such in the admin, counted in groupie_media_files, and
  ``retry_media_fetches`` enqueues it again;
- gives a download up, to be retried like a transient failure, once it has taken longer than
  GROUPIE_MEDIA_FETCH_SECONDS plus its size at GROUPIE_MEDIA_MIN_RATE (a peer that drips
  bytes holds one of the worker's threads that long, and no other fetch waits for it);
- records a file over the Bot API's 20 MB limit as ``too_large``, with its size, without
  downloading it (a local Bot API server, TELEGRAM_API_URL, lifts the limit);
- does nothing for a file already stored or a record deleted meanwhile (a replayed task).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django_tasks import task

from crypto.errors import CryptoError
from groupie import metrics
from groupie.cloudtasks import EnqueueError
from messages.media import files
from messages.models import MediaFile
from messages.stores.records import StoreError
from messages.telegram import FILE_KINDS, IncomingMessage, MediaRef
from webhooks.botapi import CHUNK_BYTES, BotApi, BotApiError, NoToken, TelegramFile

logger = logging.getLogger(__name__)
BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 3 * 3600)  # then failed: 7 attempts over ~6 h
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
ENQUEUE_FAILURES = (DatabaseError, EnqueueError, StoreError)


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class FetchQueuer:
    """Notes a message's file and queues its fetch, in two steps around the message's own
    write: ``note`` is the write to Django's database, run by the store with the message
    (archive's ``then``: one commit, or one group commit on SQLite); ``enqueue`` runs once
    that has committed, for a queue that is not the database (Cloud Tasks).

    A redelivered update finds the file queued or done and queues nothing. A failure raises
    DatabaseError, StoreError or EnqueueError, leaving the file not queued: the webhook
    answers 503 and Telegram's redelivery comes back here."""

    def __init__(self, incoming: IncomingMessage, ref: MediaRef) -> None:
        self.incoming, self.ref = incoming, ref
        self.row: MediaFile | None = None
        self.due_after_commit = False

    @classmethod
    def for_(cls, incoming: IncomingMessage) -> FetchQueuer | None:
        """None for a message without a file, or with fetching off: nothing to write."""
        ref = incoming.media if settings.GROUPIE_FETCH_MEDIA else None
        return cls(incoming, ref) if ref is not None else None

    def note(self) -> None:
        now = timezone.now()
        row, created = files.note(self.incoming, due=now, ref=self.ref)
        self.row = row
        if row is None:
            return
        if created:
            self.due_after_commit = _schedule(row.pk, now, {}, marked=True)
        elif row.status == MediaFile.PENDING and row.next_attempt_at is None:
            self.due_after_commit = _schedule(row.pk, now, {})
        # else: queued already, or done (a redelivery)

    def enqueue(self) -> None:
        if self.due_after_commit and self.row is not None:
            _enqueue_after_commit(self.row.pk, None)


def requeue(rows: Iterable[MediaFile]) -> int:
    """Starts failed (or stuck) fetches over, their attempts counted afresh; returns how many
    were queued. Raises an ENQUEUE_FAILURES error after queueing some: run again."""
    queued = 0
    for row in rows:
        fields = {"status": MediaFile.PENDING, "attempts": 0}
        with transaction.atomic():
            due = _schedule(row.pk, timezone.now(), fields)
        if due:
            _enqueue_after_commit(row.pk, None)
        queued += 1
    return queued


def _schedule(
    media_id: int, when: datetime, fields: dict[str, object], *, marked: bool = False
) -> bool:
    """Marks the file due at ``when`` (with ``fields``; ``marked``: it already is), in the
    caller's transaction. Where the queue is the database itself, the task is enqueued in that
    transaction too and False is returned; otherwise True: the caller enqueues once the mark
    is committed (a task that ran before would not find it), with ``_enqueue_after_commit``."""
    if not marked:
        MediaFile.objects.filter(pk=media_id).update(next_attempt_at=when, **fields)
    if getattr(fetch_media.get_backend(), "enqueue_after_commit", False):
        return True
    _enqueue(media_id, when)
    return False


def _enqueue_after_commit(media_id: int, when: datetime | None) -> None:
    try:
        _enqueue(media_id, when)
    except ENQUEUE_FAILURES:
        # Not queued after all: a redelivery (or retry_media_fetches) must queue it again.
        MediaFile.objects.filter(pk=media_id).update(next_attempt_at=None)
        raise


def _enqueue(media_id: int, when: datetime | None) -> None:
    task = fetch_media.using(run_after=when) if when and when > timezone.now() else fetch_media
    task.enqueue(media_id)


@task()
def fetch_media(media_id: int) -> str:
    """The task: fetch one file (by its MediaFile id); returns what happened."""
    return fetch(media_id)


def fetch(media_id: int, *, api: BotApi | None = None) -> str:
    """Fetches one file into the media store now; returns stored, retry, failed, too_large,
    gone or the status it already had."""
    row = MediaFile.objects.filter(pk=media_id).first()
    if row is None:
        result = "gone"
    elif row.status != MediaFile.PENDING:
        return row.status
    else:
        result = _attempt(row, api or BotApi(attempts=1))
    metrics.MEDIA_FETCHES.labels(result).inc()
    logger.info(
        "media fetch: %s",
        result,
        extra={"media_id": media_id, **({"chat_id": row.chat_id} if row else {})},
    )
    return result


def _attempt(row: MediaFile, api: BotApi) -> str:
    row.attempts += 1
    MediaFile.objects.filter(pk=row.pk).update(attempts=row.attempts)
    limit = settings.GROUPIE_MEDIA_MAX_BYTES
    try:
        if row.declared_size is not None and row.declared_size > limit:
            raise TooLarge(row.declared_size)
        found = api.get_file(row.file_id)
        if found.file_size is not None and found.file_size > limit:
            raise TooLarge(found.file_size)
        with api.download(found.file_path, seconds=_download_seconds(found, row)) as chunks:
            whole = _checked(chunks, limit, found.file_size)
            return "stored" if files.store(row, whole) else "gone"
    except TooLarge as exc:
        _finish(row, MediaFile.TOO_LARGE, _too_large(exc.size, limit))
        return "too_large"
    except NoToken as exc:
        _finish(row, MediaFile.FAILED, f"{exc} (set it, then retry_media_fetches)")
        return "failed"
    except BotApiError as exc:
        if exc.status is not None and exc.status < 500 and exc.status != 429:
            if "too big" in str(exc):
                _finish(row, MediaFile.TOO_LARGE, _too_large(row.declared_size, limit))
                return "too_large"
            _finish(row, MediaFile.FAILED, str(exc))  # e.g. a file_id of another bot
            return "failed"
        return _later(row, str(exc))
    except (StoreError, CryptoError, DatabaseError) as exc:
        return _later(row, f"{type(exc).__name__} while storing")
    except Exception as exc:
        # A bug of ours must not leave the file pending for good: it is retried, and after
        # the last attempt shown as failed (with the error's type, never its text).
        logger.exception("media fetch failed unexpectedly", extra={"media_id": row.pk})
        return _later(row, f"unexpected {type(exc).__name__}")


def _download_seconds(found: TelegramFile, row: MediaFile) -> float:
    """How long the download may take: GROUPIE_MEDIA_FETCH_SECONDS, plus its size (the
    largest allowed when unknown) at GROUPIE_MEDIA_MIN_RATE bytes a second. A slower one is
    given up and retried later, so that a peer dripping bytes holds a worker only this long."""
    size = found.file_size or row.declared_size or settings.GROUPIE_MEDIA_MAX_BYTES
    return float(settings.GROUPIE_MEDIA_FETCH_SECONDS + size / settings.GROUPIE_MEDIA_MIN_RATE)


def _too_large(size: int | None, limit: int) -> str:
    said = f"{size:,} bytes" if size is not None else "size unknown"
    return f"too large for the Bot API ({said}; the limit is {limit:,} bytes)"


def _checked(chunks: Iterable[bytes], limit: int, expected: int | None) -> Iterator[bytes]:
    """The download's chunks, stopped past ``limit``, and refused at the end if it is not the
    size getFile announced (a download cut short must not be kept as the file)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise TooLarge(total)
        yield chunk
    if expected is not None and total != expected:
        raise BotApiError("download", f"{total:,} bytes received, {expected:,} announced")


def _finish(row: MediaFile, status: str, error: str) -> None:
    MediaFile.objects.filter(pk=row.pk).update(
        status=status, last_error=error[:200], next_attempt_at=None
    )


def _later(row: MediaFile, error: str) -> str:
    """Schedules the next attempt, or gives up after MAX_ATTEMPTS."""
    if row.attempts >= MAX_ATTEMPTS:
        _finish(row, MediaFile.FAILED, f"{error} (after {row.attempts} attempts)")
        return "failed"
    wait = BACKOFF_SECONDS[row.attempts - 1]
    when = timezone.now() + timedelta(seconds=wait)
    with transaction.atomic():
        due = _schedule(row.pk, when, {"last_error": error[:200]})
    if due:
        _enqueue_after_commit(row.pk, when)
    return "retry"


def keep_exported_file(incoming: IncomingMessage, relative: object, root: Path) -> str:
    """Seals the file a Telegram Desktop export holds for ``incoming`` (``relative``, its
    path beside result.json) as if it had been fetched: stored, present (already stored),
    missing (not in the export: Telegram Desktop leaves out what its settings excluded),
    off (GROUPIE_FETCH_MEDIA=0) or none (the message has no file)."""
    if not isinstance(relative, str) or incoming.kind not in FILE_KINDS:
        return "none"
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return "missing"
    unique = "x" + hashlib.sha256(relative.encode()).hexdigest()[:40]  # stable across runs
    ref = MediaRef(incoming.kind, file_id="", file_unique_id=unique, file_size=None)
    row, _ = files.note(incoming, ref=ref)
    if row is None:
        return "off"
    if row.status == MediaFile.STORED:
        return "present"
    with path.open("rb") as source:
        stored = files.store(row, iter(lambda: source.read(CHUNK_BYTES), b""))
    return "stored" if stored else "missing"
