"""Serving a sealed file over HTTP, for the admin and the API alike: decrypted as it streams,
audited, and with headers that keep a browser from treating archived bytes as our page.

- Content-Type is the type sniffed from the file's own bytes when it is one of the image,
  audio and video types shown inline or a PDF, ZIP or gzip file (downloaded as what it is),
  else application/octet-stream; never what the sender or Telegram declared.
- Content-Disposition is ``attachment`` unless the file is an image (then ``inline``, for the
  admin's <img>); audio and video players load attachments as well, and a PDF is always a
  download, never opened in the page.
- nosniff, a sandboxing CSP, no caching: the bytes are the archive's, decrypted.
- One byte range (``Range: bytes=…``) is answered with a 206, so players can seek and
  downloads resume; the file is still decrypted from its start, segment by segment.
- A file that does not open at all is a clear error before any byte is sent, and audited as a
  failed download; one altered part way through is cut off there (Content-Length tells the
  client it is incomplete) and audited as failed too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from groupie import metrics
from messages import audit
from messages.media import files, thumbnails
from messages.media.files import MediaUnavailable
from messages.media.sniffing import served_type
from messages.models import ApiKey, MediaFile
from messages.reading import opening
from messages.stores.records import MessageHistory
from messages.telegram import media_of

logger = logging.getLogger(__name__)
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
}


class NotStored(Exception):
    """The message has no file stored (none, or not fetched yet): the text says which."""


def message_file(
    chat_id: int, message_id: int, history: MessageHistory, unique_id: str | None
) -> tuple[MediaFile, dict[str, Any] | None]:
    """The stored file of a message (its latest version's, or the one ``unique_id`` names)
    and the opened message (for the file's name). Raises NotStored."""
    message = opening.open_history(history)[0].opened.message
    rows = MediaFile.objects.filter(chat_id=chat_id, message_id=message_id)
    ref = media_of(message) if message else None
    wanted = unique_id or (ref.file_unique_id if ref else None)
    row = (rows.filter(file_unique_id=wanted) if wanted else rows.order_by("-created_at")).first()
    if row is None and unique_id:
        raise NotStored(f"The message has no file {unique_id}.")
    if row is None:
        if message is not None and ref is None:
            raise NotStored("The message has no file.")
        raise NotStored("The message's file was not kept (media fetching was off).")
    if row.status == MediaFile.PENDING:
        raise NotStored(f"The {row.kind} is not fetched yet (attempt {row.attempts} so far).")
    if row.status != MediaFile.STORED:
        raise NotStored(
            f"The {row.kind} was not kept: {row.get_status_display()}, {row.last_error}."
        )
    return row, message


def file_name(row: MediaFile, message: dict[str, Any] | None) -> str:
    """The name a download is saved under: the sender's file name for a document (control
    and path characters replaced; the header encodes the rest), else
    chat-message-kind and the sniffed type's extension."""
    declared = ((message or {}).get(row.kind) or {}) if row.kind != "photo" else {}
    name = declared.get("file_name") if isinstance(declared, dict) else None
    if isinstance(name, str):
        safe = "".join(c if c.isprintable() and c not in '/\\"' else "_" for c in name)
        if safe.strip(" ._"):
            return safe.strip()[:120]
    return f"{row.chat_id}-{row.message_id}-{row.kind}{EXTENSIONS.get(row.content_type, '')}"


def stream(
    request: HttpRequest,
    row: MediaFile,
    *,
    channel: str,
    name: str,
    api_key: ApiKey | None = None,
) -> StreamingHttpResponse:
    """The decrypted file as a streamed response. Raises MediaUnavailable (after writing a
    failed-download audit entry) when it does not open."""
    try:
        chunks = files.opened(row)
    except MediaUnavailable:
        _audit(request, row, channel, api_key, failed=True)
        raise
    content_type = served_type(row.content_type)
    wanted = byte_range(request.headers.get("Range", ""), row.size)
    body = _watched(request, row, channel, api_key, chunks)
    if wanted is not None:
        start, end = wanted
        response = StreamingHttpResponse(_slice(body, start, end), content_type=content_type)
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end - 1}/{row.size}"
        response["Content-Length"] = str(end - start)
    else:
        response = StreamingHttpResponse(body, content_type=content_type)
        if row.size is not None:
            response["Content-Length"] = str(row.size)
    attachment = not content_type.startswith("image/")
    response["Content-Disposition"] = content_disposition_header(attachment, name) or ""
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    _audit(request, row, channel, api_key, failed=False)
    return response


def byte_range(header: str, size: int | None) -> tuple[int, int] | None:
    """The one byte range a ``Range`` header asks for, as [start, end), or None for the
    whole file: no header, several ranges, or one that does not fit (a player seeking in a
    voice note or a video sends ``bytes=N-``; a resumed download the same)."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if size is None or match is None or match.group(1) + match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start, end = int(first), (int(last) + 1 if last else size)
    else:  # the last N bytes
        start, end = max(size - int(last), 0), size
    end = min(end, size)
    return (start, end) if start < end else None


def _slice(chunks: Iterator[bytes], start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the decrypted stream. Tink's streams are sequential here, so the
    segments before ``start`` are decrypted and skipped: authenticated all the same."""
    offset = 0
    for chunk in chunks:
        low, high = max(start - offset, 0), min(end - offset, len(chunk))
        if low < high:
            yield chunk[low:high]
        offset += len(chunk)
        if offset >= end:
            return


def _watched(
    request: HttpRequest,
    row: MediaFile,
    channel: str,
    api_key: ApiKey | None,
    chunks: Iterator[bytes],
) -> Iterator[bytes]:
    try:
        yield from chunks
    except MediaUnavailable as exc:
        logger.error(
            "media download cut off: %s", exc, extra={"chat_id": row.chat_id, "media_id": row.pk}
        )
        _audit(request, row, channel, api_key, failed=True)
        raise


def _audit(
    request: HttpRequest, row: MediaFile, channel: str, api_key: ApiKey | None, *, failed: bool
) -> None:
    """A download is audited once its response has started well; a failure at once."""
    metrics.MEDIA_DOWNLOADS.labels(channel, "failed" if failed else "ok").inc()
    audit.record(
        request,
        channel=channel,
        action="media-download-failed" if failed else "media-download",
        chat_id=row.chat_id,
        message_ids=[f"{row.chat_id}:{row.message_id}"],
        filters={"kind": row.kind},
        api_key=api_key,
        immediately=failed,
    )


def thumbnail(request: HttpRequest, row: MediaFile, *, channel: str) -> HttpResponse:
    """A stored image's thumbnail (a small JPEG, opened whole before the response starts),
    with the same headers as a file and audited as a thumbnail shown. Raises
    thumbnails.NoThumbnail when it has none."""
    body = thumbnails.opened(row)
    response = HttpResponse(body, content_type="image/jpeg")
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    metrics.MEDIA_DOWNLOADS.labels(channel, "ok").inc()
    audit.record(
        request,
        channel=channel,
        action="media-thumbnail",
        chat_id=row.chat_id,
        message_ids=[f"{row.chat_id}:{row.message_id}"],
        filters={"kind": row.kind},
    )
    return response
