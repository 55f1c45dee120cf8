"""Media files of archived messages: noted when a message is archived, sealed into the media
store when fetched, opened as a stream when shown, deleted with their messages.

The fetch itself (Telegram's Bot API) is the webhooks app's: this module takes the bytes as
an iterable of chunks and never holds a whole file. Nothing here logs or raises content.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Count, Field
from django.utils import timezone

from crypto import media
from crypto.chatkeys import OPENABLE, RETIRED
from crypto.errors import CryptoError, DecryptionError, KeyringError
from crypto.media import MediaIdentity
from groupie import metrics
from groupie.commands import counted
from messages import sealing
from messages.access import legal_hold
from messages.media import thumbnails
from messages.media.archive import archive_id
from messages.media.blobs import get_blob_store
from messages.media.blobs.base import (
    BlobExists,
    BlobMissing,
    BlobStoreError,
    blob_name,
    chat_prefix,
)
from messages.media.sniffing import SNIFF_BYTES, sniff
from messages.models import MediaFile
from messages.telegram import IncomingMessage, MediaRef

logger = logging.getLogger(__name__)
_NOTE_COLUMNS = (
    "chat_id",
    "message_id",
    "file_unique_id",
    "date",
    "kind",
    "file_id",
    "declared_size",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "blob_name",
    "content_type",
    "created_at",
)
# Our own table and column names; every value is a parameter.
_NOTE_SQL = f"""INSERT INTO {MediaFile._meta.db_table} ({", ".join(_NOTE_COLUMNS)})
    VALUES ({", ".join(["%s"] * len(_NOTE_COLUMNS))})
    ON CONFLICT (chat_id, message_id, file_unique_id) DO NOTHING RETURNING id"""  # noqa: S608


class KeyChangedMeanwhile(CryptoError):
    """The chat's key version was retired while a file was sealed under it: fetch again."""


class MediaUnavailable(Exception):
    """A file that cannot be shown: not fetched (yet), or its blob is missing or fails to
    open. The text says which, never content."""


@dataclass
class Checked:
    """What re-sealing or verifying a chat's media did: counts, and lines naming failures."""

    done: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the operator, not failures


def identity(row: MediaFile) -> MediaIdentity:
    return MediaIdentity(row.chat_id, row.message_id, row.file_unique_id)


def note(
    incoming: IncomingMessage, *, due: datetime | None = None, ref: MediaRef | None = None
) -> tuple[MediaFile | None, bool]:
    """The record of the file ``incoming`` carries (or ``ref``, a file from elsewhere), and
    whether it was made now (due at ``due``), or (None, False) when it has none or media
    fetching is off. An edit with the same file finds the same record. A new file costs one
    INSERT, with no read before it."""
    if not settings.GROUPIE_FETCH_MEDIA:
        return None, False
    ref = ref or incoming.media
    if ref is None:
        return None, False
    place = {
        "chat_id": incoming.chat_id,
        "message_id": incoming.message_id,
        "file_unique_id": ref.file_unique_id,
    }
    row = MediaFile(
        **place,
        date=incoming.date,
        kind=ref.kind,
        file_id=ref.file_id,
        declared_size=ref.file_size,
        next_attempt_at=due,
        created_at=timezone.now(),
    )
    # The webhook's path: one statement, no read first and no savepoint (a redelivery, the
    # rare case, reads the record that is there).
    values = [
        cast(Field[Any, Any], MediaFile._meta.get_field(column)).get_db_prep_save(
            getattr(row, column), connection
        )
        for column in _NOTE_COLUMNS
    ]
    with connection.cursor() as cursor:
        cursor.execute(_NOTE_SQL, values)
        inserted = cursor.fetchone()
    if inserted is None:
        return MediaFile.objects.get(**place), False
    row.pk = inserted[0]
    return row, True


def store(row: MediaFile, chunks: Iterable[bytes]) -> bool:
    """Seals ``chunks`` (the file's bytes, in order) into the media store under the chat's
    active key, as stored now, and marks the record stored. Returns False, keeping nothing,
    when the record was deleted meanwhile or its chat has no active key (shredded).

    A rotation between the seal and the record's update is caught afterwards: a version that
    was retired meanwhile (re-encryption finished without this file) gets the file sealed
    again under the active one, so no file is ever left under a retired version.

    The name is this archive's (``archive_id``) and the store never replaces an object: a
    second write of the same file (a retry after the record's update failed, a re-import)
    finds its own blob there and keeps it, once it opens as this file.

    Raises BlobStoreError or CryptoError (the caller tries again later), or whatever
    ``chunks`` raises; nothing of a failed write is kept."""
    keys = sealing.chat_keys()
    current = keys.current_key(row.chat_id)
    if current is None:
        _forget(row)
        return False
    version, key = current
    name = blob_name(archive_id(), row.chat_id, row.message_id, row.file_unique_id, version)
    head = bytearray()

    def sniffed(source: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in source:
            if len(head) < SNIFF_BYTES:
                head.extend(chunk[: SNIFF_BYTES - len(head)])
            yield chunk

    blobs = get_blob_store()
    try:
        with blobs.writer(name) as stream:
            size = media.seal_stream(key, version, identity(row), sniffed(chunks), stream)
    except BlobExists:
        size = _sealed_before(row, name, version, head)
    old_name, old_version = row.blob_name, row.key_version
    stored = MediaFile.objects.filter(pk=row.pk).update(
        status=MediaFile.STORED,
        blob_name=name,
        key_version=version,
        size=size,
        content_type=sniff(bytes(head)),
        fetched_at=timezone.now(),
        last_error="",
        next_attempt_at=None,
    )
    if not stored:
        blobs.delete([name])  # the record went while this ran: so does its file
        return False
    state = keys.version_state(row.chat_id, version)
    if state not in OPENABLE:
        # Shredded, or rotated and re-encrypted without this file, while it was sealed: a
        # file must never stay under a version that no longer opens.
        if state != RETIRED:
            return _forget(row)
        MediaFile.objects.filter(pk=row.pk).update(
            status=MediaFile.PENDING, blob_name="", key_version=None, size=None
        )
        blobs.delete([name])
        raise KeyChangedMeanwhile(f"chat {row.chat_id}'s key was rotated while sealing a file")
    MediaFile.objects.filter(pk=row.pk).update(file_id="")  # not needed: the file is ours
    if old_name and old_name != name:
        blobs.delete([old_name])
        thumbnails.delete(row, old_version)
    metrics.MEDIA_BYTES.inc(size)
    row.refresh_from_db()
    _thumbnail(row)
    return True


def _thumbnail(row: MediaFile) -> None:
    """Seals the stored image's thumbnail, from the sealed file opened again (never from
    bytes kept in the clear). A failure leaves the file without one: the admin shows the file
    itself then, so the fetch does not fail for it."""
    if not thumbnails.wanted(row):
        return
    try:
        thumbnails.make(row, open_stream(row))
    except (BlobStoreError, KeyringError, MediaUnavailable) as exc:
        logger.warning("thumbnail not made: %s", type(exc).__name__, extra={"chat_id": row.chat_id})


def _sealed_before(row: MediaFile, name: str, version: int, head: bytearray) -> int:
    """The size of the file already at ``name`` (this archive's name for this file under
    ``version``), which is kept as it is, once it opens to its end as this very file: only
    this archive holds the chat key, and the sealing binds the place and the version. Its
    first bytes replace ``head``. Raises BlobStoreError when it does not open (it is left
    alone: the store never replaces an object), KeyringError in an outage."""
    head.clear()
    size = 0
    try:
        with get_blob_store().reader(name) as source:
            if media.read_header(source) != version:
                raise DecryptionError("sealed under another key version than its name says")
            key = sealing.chat_keys().key(row.chat_id, version)
            for chunk in media.open_stream(key, version, identity(row), source):
                if len(head) < SNIFF_BYTES:
                    head.extend(chunk[: SNIFF_BYTES - len(head)])
                size += len(chunk)
    except KeyringError:
        raise
    except CryptoError as exc:
        raise BlobStoreError(
            f"the media store holds another object named {name} ({type(exc).__name__}); "
            "it was left as it is"
        ) from None
    return size


def _forget(row: MediaFile) -> bool:
    """The chat was shredded while its file was fetched: nothing of the file stays."""
    MediaFile.objects.filter(pk=row.pk).delete()
    blobs = get_blob_store()
    if row.blob_name:
        blobs.delete([row.blob_name])
    blobs.delete_prefix(f"{chat_prefix(archive_id(), row.chat_id)}{row.message_id}/")
    return False


def open_stream(row: MediaFile) -> Generator[bytes, None, None]:
    """The file's bytes, decrypted as they are read. Raises MediaUnavailable before the first
    chunk for a file not stored, a missing blob, or one that fails to open; a failure part way
    through (a segment altered in the store) raises MediaUnavailable then. An outage of the
    media store or the keyring is raised as it is (BlobStoreError, KeyringError: a 503)."""
    if row.status != MediaFile.STORED or not row.blob_name:
        raise MediaUnavailable(f"the {row.kind} has not been fetched ({row.get_status_display()})")
    try:
        with get_blob_store().reader(row.blob_name) as source:
            version = media.read_header(source)
            key = sealing.chat_keys().key(row.chat_id, version)
            yield from media.open_stream(key, version, identity(row), source)
    except BlobMissing:
        raise MediaUnavailable("the sealed file is missing from the media store") from None
    except KeyringError:
        raise  # an outage (503), not the file's fault
    except CryptoError as exc:
        metrics.DECRYPT_FAILURES.labels(type(exc).__name__).inc()
        raise MediaUnavailable(f"the sealed file does not open ({type(exc).__name__})") from None


def damage(row: MediaFile) -> str | None:
    """Why a stored file cannot be shown (missing from the store, or it does not open: its
    header and first segment are read and authenticated, as a download would begin), or None
    when it opens. Tells a file that was damaged (tampered with, or replaced by another
    archive's before create-only writes) from one that can be shown, without reading all of
    it. Raises BlobStoreError or KeyringError in an outage: that is not the file's fault."""
    stream = open_stream(row)
    try:
        next(stream, b"")
    except MediaUnavailable as exc:
        return str(exc)
    finally:
        stream.close()
    return None


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
    """Deletes the blobs a chat's media records name, the records, then every blob under the
    chat's prefix in this archive (those of records a fetch was still writing included: their
    fetch finds the record gone and deletes its blob too). Returns how many records were
    deleted. Never a prefix of another archive's, nor the shared ``chats/`` of archives made
    before archive ids: files there are deleted by the names their records give. A chat under
    legal hold keeps its files (0): they wait for the hold's release."""
    if legal_hold(chat_id) is not None:
        return 0
    rows = MediaFile.objects.filter(chat_id=chat_id)
    blobs = get_blob_store()
    blobs.delete([name for name in rows.values_list("blob_name", flat=True) if name])
    deleted, _ = rows.delete()
    blobs.delete_prefix(chat_prefix(archive_id(), chat_id))
    return deleted


def delete_media_before(chat_id: int, before: int) -> int:
    """Deletes the media of a chat's messages dated before ``before`` (Unix seconds): blobs
    first (a failure part way leaves records that the next run finds), then the records,
    then whatever a fetch still running wrote under those messages. Returns how many
    records were deleted. A chat under legal hold keeps its files (0)."""
    if legal_hold(chat_id) is not None:
        return 0
    rows = MediaFile.objects.filter(chat_id=chat_id, date__lt=before)
    found = list(rows.values_list("pk", "message_id", "blob_name"))
    blobs = get_blob_store()
    blobs.delete([name for _, _, name in found if name])
    MediaFile.objects.filter(pk__in=[pk for pk, _, _ in found]).delete()
    prefix = chat_prefix(archive_id(), chat_id)
    for message_id in {message_id for _, message_id, _ in found}:
        blobs.delete_prefix(f"{prefix}{message_id}/")
    return len(found)


def statuses(places: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[str, str]]]:
    """For each (chat, message) that has media records: (file_unique_id, status) of each,
    newest first. One query for a page of messages."""
    wanted = set(places)
    found: dict[tuple[int, int], list[tuple[str, str]]] = {}
    if not wanted:
        return found
    rows = (
        MediaFile.objects.filter(
            chat_id__in={c for c, _ in wanted}, message_id__in={m for _, m in wanted}
        )
        .order_by("-created_at", "-pk")
        .values_list("chat_id", "message_id", "file_unique_id", "status")
    )
    for chat_id, message_id, unique_id, status in rows:
        if (chat_id, message_id) in wanted:
            found.setdefault((chat_id, message_id), []).append((unique_id, status))
    return found


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
    checks its size; reports blobs under this archive's prefix that no record names (another
    archive's files in a shared store are not this archive's business)."""
    checked = Checked()
    named = set()
    rows = MediaFile.objects.filter(chat_id=chat_id, status=MediaFile.STORED)
    for row in rows.iterator():
        named.add(row.blob_name)
        named |= thumbnails.names([row])
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
    unstored = (
        MediaFile.objects.filter(chat_id=chat_id)
        .exclude(status=MediaFile.STORED)
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    checked.notes += [
        f"chat {chat_id}: {counted(n, 'media file')} {status}" for status, n in unstored
    ]
    orphans = [
        n for n in get_blob_store().names(chat_prefix(archive_id(), chat_id)) if n not in named
    ]
    if orphans:
        checked.failures.append(
            f"chat {chat_id}: {counted(len(orphans), 'sealed file')} in the media store with "
            "no record"
        )
    return checked
