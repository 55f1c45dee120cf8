"""Small thumbnails of archived images, sealed like the files they are made from.

Made when a file is stored (``files.store``), from its sealed blob opened again, never from a
copy kept in the clear: the thumbnail is a JPEG of at most ``EDGE`` pixels a side, sealed
under the same chat key and version as its file into a blob of its own, with an identity of
its own (the file's ``file_unique_id`` and ``#thumb``, which no Telegram id contains), so a
thumbnail cannot be passed off as its file or another message's.

It lives next to its file (``…/{message_id}/{file_unique_id}.thumb.{version}``), so every
deletion by prefix (a purge, a shredded chat) takes it too; re-sealing a file under a new
version makes a new thumbnail and deletes the old one with the old file.

A thumbnail that cannot be made (an image Pillow cannot read, one too large) is simply
absent: the admin then shows the file itself. Nothing here logs content."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Generator, Iterable

from PIL import Image, UnidentifiedImageError

from crypto import media
from crypto.errors import CryptoError, KeyringError
from crypto.media import MediaIdentity
from messages import sealing
from messages.media.archive import archive_id
from messages.media.blobs import get_blob_store
from messages.media.blobs.base import BlobExists, BlobMissing, BlobStoreError, blob_name
from messages.models import MediaFile

EDGE = 320
MAX_SOURCE_BYTES = 20 * 1024 * 1024  # larger images are shown as they are, not thumbnailed
# A decompression bomb (a small file of huge dimensions) is refused before it is decoded.
MAX_PIXELS = 50_000_000
KINDS = ("image/jpeg", "image/png", "image/gif", "image/webp")
SUFFIX = "#thumb"
logger = logging.getLogger(__name__)


class NoThumbnail(Exception):
    """The file has no thumbnail (not an image, or made before thumbnails were)."""


def identity(row: MediaFile) -> MediaIdentity:
    return MediaIdentity(row.chat_id, row.message_id, row.file_unique_id + SUFFIX)


def name_for(row: MediaFile, key_version: int) -> str:
    return blob_name(
        archive_id(), row.chat_id, row.message_id, f"{row.file_unique_id}.thumb", key_version
    )


def wanted(row: MediaFile) -> bool:
    return row.content_type in KINDS and (row.size or 0) <= MAX_SOURCE_BYTES


def shrink(data: bytes) -> bytes:
    """A JPEG of ``data`` at most EDGE pixels a side. Raises ValueError for bytes Pillow
    cannot read as an image (or one above MAX_PIXELS)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError("too many pixels")
                image.draft("RGB", (EDGE, EDGE))  # JPEG: decode at a reduced scale
                picture = image.convert("RGB")
                picture.thumbnail((EDGE, EDGE))
                out = io.BytesIO()
                picture.save(out, "JPEG", quality=80)
                return out.getvalue()
        except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning) as exc:
            raise ValueError(type(exc).__name__) from None
        except Image.DecompressionBombError:
            raise ValueError("too many pixels") from None


def make(row: MediaFile, source: Iterable[bytes]) -> bool:
    """Seals a thumbnail of the stored file ``row`` (whose opened bytes ``source`` yields)
    under the row's key version. Returns whether one was made; an image that does not read
    is no error (it has none). Raises BlobStoreError or KeyringError in an outage."""
    if not wanted(row) or row.key_version is None:
        return False
    try:
        data = shrink(b"".join(source))
    except (ValueError, CryptoError) as exc:
        logger.info(
            "no thumbnail: %s",
            type(exc).__name__,
            extra={"chat_id": row.chat_id, "media_id": row.pk},
        )
        return False
    key = sealing.chat_keys().key(row.chat_id, row.key_version)
    try:
        with get_blob_store().writer(name_for(row, row.key_version)) as stream:
            media.seal_stream(key, row.key_version, identity(row), [data], stream)
    except BlobExists:
        pass  # made before (a retried store): kept, and checked when it is opened
    return True


def open_stream(row: MediaFile) -> Generator[bytes, None, None]:
    """The thumbnail's bytes, decrypted. Raises NoThumbnail when there is none (or it does
    not open as this file's thumbnail: then the file itself is shown); KeyringError and
    BlobStoreError in an outage."""
    if row.status != MediaFile.STORED or row.key_version is None or not wanted(row):
        raise NoThumbnail
    try:
        with get_blob_store().reader(name_for(row, row.key_version)) as source:
            version = media.read_header(source)
            key = sealing.chat_keys().key(row.chat_id, version)
            yield from media.open_stream(key, version, identity(row), source)
    except BlobMissing:
        raise NoThumbnail from None
    except KeyringError:
        raise
    except CryptoError as exc:
        logger.warning(
            "thumbnail does not open: %s",
            type(exc).__name__,
            extra={"chat_id": row.chat_id, "media_id": row.pk},
        )
        raise NoThumbnail from None


def opened(row: MediaFile) -> bytes:
    """The whole thumbnail (a few KiB), opened before any response starts."""
    return b"".join(open_stream(row))


def delete(row: MediaFile, key_version: int | None) -> None:
    if key_version is not None:
        try:
            get_blob_store().delete([name_for(row, key_version)])
        except BlobStoreError:
            logger.warning("old thumbnail not deleted", extra={"chat_id": row.chat_id})


def names(rows: Iterable[MediaFile]) -> set[str]:
    """The thumbnail names stored files may have (verify_archive counts them as named)."""
    return {name_for(r, r.key_version) for r in rows if r.key_version is not None}
