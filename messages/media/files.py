"""Media files of archived messages: noted when a message is archived, sealed into the media
store when fetched, opened as a stream when shown, deleted with their messages.

The fetch itself (Telegram's Bot API) is the webhooks app's: this module takes the bytes as
an iterable of chunks and never holds a whole file. Nothing here logs or raises content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from crypto import media
from crypto.errors import CryptoError
from crypto.media import MediaIdentity
from groupie import metrics
from messages import sealing
from messages.media.blobs import get_blob_store
from messages.media.blobs.base import BlobStoreError, blob_name, chat_prefix
from messages.media.sniffing import SNIFF_BYTES, sniff
from messages.models import MediaFile
from messages.telegram import IncomingMessage, media_of


class MediaUnavailable(Exception):
    """A file that cannot be shown: not fetched (yet), or its blob is missing or fails to
    open. The text says which, never content."""


@dataclass
class Checked:
    """What re-sealing or verifying a chat's media did: counts, and lines naming failures."""

    done: int = 0
    failures: list[str] = field(default_factory=list)


def identity(row: MediaFile) -> MediaIdentity:
    return MediaIdentity(row.chat_id, row.message_id, row.file_unique_id)


def note(incoming: IncomingMessage) -> MediaFile | None:
    """The record of the file ``incoming`` carries (made on first sight), or None when it has
    none or media fetching is off. An edit with the same file finds the same record."""
    if not settings.GROUPIE_FETCH_MEDIA:
        return None
    ref = media_of(incoming.raw)
    if ref is None:
        return None
    row, _ = MediaFile.objects.get_or_create(
        chat_id=incoming.chat_id,
        message_id=incoming.message_id,
        file_unique_id=ref.file_unique_id,
        defaults={
            "date": incoming.date,
            "kind": ref.kind,
            "file_id": ref.file_id,
            "declared_size": ref.file_size,
        },
    )
    return row


def store(row: MediaFile, chunks: Iterable[bytes]) -> bool:
    """Seals ``chunks`` (the file's bytes, in order) into the media store under the chat's
    active key and marks the record stored. Returns False, keeping nothing, when the record
    was deleted meanwhile (its chat shredded or its message purged).

    Raises BlobStoreError or CryptoError (the caller tries again later), or whatever
    ``chunks`` raises; nothing of a failed write is kept."""
    version, key = sealing.chat_keys().active_key(row.chat_id)
    name = blob_name(row.chat_id, row.message_id, row.file_unique_id, version)
    head = bytearray()

    def sniffed(source: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in source:
            if len(head) < SNIFF_BYTES:
                head.extend(chunk[: SNIFF_BYTES - len(head)])
            yield chunk

    blobs = get_blob_store()
    with blobs.writer(name) as stream:
        size = media.seal_stream(key, version, identity(row), sniffed(chunks), stream)
    old_name = row.blob_name
    stored = MediaFile.objects.filter(pk=row.pk).update(
        status=MediaFile.STORED,
        blob_name=name,
        key_version=version,
        size=size,
        content_type=sniff(bytes(head)),
        fetched_at=timezone.now(),
        file_id="",  # no longer needed: the file is ours now
        last_error="",
        next_attempt_at=None,
    )
    if not stored:
        blobs.delete([name])  # the record went while this ran: so does its file
        return False
    if old_name and old_name != name:
        blobs.delete([old_name])
    metrics.MEDIA_BYTES.inc(size)
    row.refresh_from_db()
    return True


def open_stream(row: MediaFile) -> Iterator[bytes]:
    """The file's bytes, decrypted as they are read. Raises MediaUnavailable before the first
    chunk for a file not stored, a missing blob, or one that fails to open; a failure part way
    through (a segment altered in the store) raises MediaUnavailable then."""
    if row.status != MediaFile.STORED or not row.blob_name:
        raise MediaUnavailable(f"the {row.kind} has not been fetched ({row.get_status_display()})")
    try:
        with get_blob_store().reader(row.blob_name) as source:
            version = media.read_header(source)
            key = sealing.chat_keys().key(row.chat_id, version)
            yield from media.open_stream(key, version, identity(row), source)
    except BlobStoreError as exc:
        raise MediaUnavailable(f"the sealed file could not be read: {exc}") from None
    except CryptoError as exc:
        metrics.DECRYPT_FAILURES.labels(type(exc).__name__).inc()
        raise MediaUnavailable(f"the sealed file does not open ({type(exc).__name__})") from None


def opened(row: MediaFile) -> Iterator[bytes]:
    """``open_stream`` with its first chunk already decrypted, so that a file that does not
    open at all raises here, before a response has started."""
    stream = open_stream(row)
    first = next(stream, b"")

    def rest() -> Iterator[bytes]:
        if first:
            yield first
        yield from stream

    return rest()


def delete_chat_media(chat_id: int) -> int:
    """Deletes a chat's media records, then every blob under its prefix (those of records a
    fetch was still writing included: their fetch finds the record gone and deletes its blob
    too). Returns how many blobs were deleted."""
    MediaFile.objects.filter(chat_id=chat_id).delete()
    return get_blob_store().delete_prefix(chat_prefix(chat_id))


def delete_media_before(chat_id: int, before: int) -> int:
    """Deletes the media of a chat's messages dated before ``before`` (Unix seconds), records
    first; returns how many blobs were deleted."""
    rows = MediaFile.objects.filter(chat_id=chat_id, date__lt=before)
    names = [name for name in rows.values_list("blob_name", flat=True) if name]
    rows.delete()
    return get_blob_store().delete(names)


def count_media_before(chat_id: int, before: int) -> int:
    return MediaFile.objects.filter(chat_id=chat_id, date__lt=before).count()


def count_under(chat_id: int, versions: Iterable[int]) -> int:
    """How many of the chat's stored files are sealed under ``versions``."""
    return MediaFile.objects.filter(
        chat_id=chat_id, status=MediaFile.STORED, key_version__in=list(versions)
    ).count()


def reseal(chat_id: int, versions: Iterable[int]) -> Checked:
    """Re-seals the chat's stored files sealed under ``versions`` with its active key: each
    streamed from its old blob into a new one, then the record moved, then the old blob
    deleted. Until a file is done it stays readable under its old version, which
    reencrypt_messages retires only once no file (and no message) uses it."""
    checked = Checked()
    rows = MediaFile.objects.filter(
        chat_id=chat_id, status=MediaFile.STORED, key_version__in=list(versions)
    )
    for row in rows.iterator():
        try:
            if store(row, open_stream(row)):
                checked.done += 1
        except MediaUnavailable as exc:
            checked.failures.append(f"chat {chat_id} message {row.message_id} {row.kind}: {exc}")
    return checked


def verify(chat_id: int) -> Checked:
    """Opens every stored file of the chat to its end (authenticating each segment) and
    checks its size; reports blobs that no record names."""
    checked = Checked()
    named = set()
    rows = MediaFile.objects.filter(chat_id=chat_id, status=MediaFile.STORED)
    for row in rows.iterator():
        named.add(row.blob_name)
        where = f"chat {chat_id} message {row.message_id} {row.kind}"
        try:
            size = sum(len(chunk) for chunk in open_stream(row))
        except MediaUnavailable as exc:
            checked.failures.append(f"{where}: {exc}")
            continue
        if size != row.size:
            checked.failures.append(f"{where}: {size} bytes opened, {row.size} recorded")
            continue
        checked.done += 1
    orphans = [n for n in get_blob_store().names(chat_prefix(chat_id)) if n not in named]
    if orphans:
        checked.failures.append(
            f"chat {chat_id}: {len(orphans)} sealed files in the media store have no record"
        )
    return checked
