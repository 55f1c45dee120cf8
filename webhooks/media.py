"""Fetching the files of archived messages from the Bot API, off the request path.

The webhook (or poll_updates) archives a message, notes its file and enqueues ``fetch_media``
with Django's task framework; Telegram's answer never waits for a download. The task runs in
``manage.py db_worker`` (one box) or is called back by Cloud Tasks (Cloud Run). It asks
``getFile`` for the file's path, streams the download into the sealed media store, and:

- retries a transient failure (Telegram down or rate-limiting, our store or keyring down) with
  growing waits, BACKOFF_SECONDS, by enqueuing itself again to run later; after the last one
  the file is ``failed``: shown as such in the admin, counted in groupie_media_files, and
  ``retry_media_fetches`` enqueues it again;
- records a file over the Bot API's 20 MB limit as ``too_large``, with its size, without
  downloading it (a local Bot API server, TELEGRAM_API_URL, lifts the limit);
- does nothing for a file already stored or a record deleted meanwhile (a replayed task).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django_tasks import task

from crypto.errors import CryptoError
from groupie import metrics
from groupie.cloudtasks import EnqueueError
from messages.media import files
from messages.media.blobs.base import BlobStoreError
from messages.models import MediaFile
from messages.telegram import IncomingMessage
from webhooks.botapi import BotApi, BotApiError, NoToken

logger = logging.getLogger(__name__)
BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 3 * 3600)  # then failed: 7 attempts over ~6 h
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
ENQUEUE_FAILURES = (DatabaseError, EnqueueError)


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def queue_fetch(incoming: IncomingMessage) -> MediaFile | None:
    """Notes ``incoming``'s file and enqueues its fetch, unless it is queued or done already
    (a redelivered update). Raises DatabaseError or EnqueueError: the caller answers 503 and
    Telegram's redelivery comes back here."""
    with transaction.atomic():
        row = files.note(incoming)
        if row is None or row.status != MediaFile.PENDING or row.next_attempt_at is not None:
            return row
        row.next_attempt_at = timezone.now()
        row.save(update_fields=["next_attempt_at"])
        fetch_media.enqueue(row.pk)
    return row


def requeue(row: MediaFile) -> None:
    """Starts a failed (or stuck) fetch over, with its attempts counted afresh."""
    with transaction.atomic():
        MediaFile.objects.filter(pk=row.pk).update(
            status=MediaFile.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        fetch_media.enqueue(row.pk)


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
        with api.download(found.file_path) as chunks:
            return "stored" if files.store(row, _capped(chunks, limit)) else "gone"
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
    except (BlobStoreError, CryptoError, DatabaseError) as exc:
        return _later(row, f"{type(exc).__name__} while storing")


def _too_large(size: int | None, limit: int) -> str:
    said = f"{size:,} bytes" if size is not None else "size unknown"
    return f"too large for the Bot API ({said}; the limit is {limit:,} bytes)"


def _capped(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise TooLarge(total)
        yield chunk


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
        MediaFile.objects.filter(pk=row.pk).update(last_error=error[:200], next_attempt_at=when)
        fetch_media.using(run_after=when).enqueue(row.pk)
    return "retry"
