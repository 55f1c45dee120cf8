"""Google Cloud Storage (``GROUPIE_MEDIA_STORE=gcs``, bucket ``GROUPIE_MEDIA_BUCKET``): Cloud Run.

Writes are resumable uploads in 8 MiB chunks and reads are ranged downloads of the same size,
so neither holds a file in memory. An upload that fails part way is never finalized: no
partial object appears. Every upload carries ``ifGenerationMatch=0``: Cloud Storage then
finalizes it only if no object of that name exists (else 412, BlobExists here), so a write
never replaces an object, another deployment's included. The client honours
``STORAGE_EMULATOR_HOST`` (the tests' emulator, which the tests teach that precondition).
The service account needs roles/storage.objectUser on the bucket, nothing project-wide.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast

from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]  # no stubs for it
from google.cloud.storage.exceptions import InvalidResponse  # type: ignore[import-untyped]

from messages.media.blobs.base import BlobExists, BlobMissing, BlobStore, BlobStoreError

CHUNK_BYTES = 8 * 1024 * 1024
# A resumable upload's refusals arrive as InvalidResponse, not as an API error.
_FAILURES = (google_exceptions.GoogleAPIError, OSError, InvalidResponse)


class GCSBlobStore(BlobStore):
    def __init__(self, bucket: str, project: str = "", chunk_bytes: int = CHUNK_BYTES) -> None:
        if not bucket:
            raise ValueError("GROUPIE_MEDIA_STORE=gcs needs GROUPIE_MEDIA_BUCKET")
        kwargs: dict[str, Any] = {"project": project or None}
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            kwargs["credentials"] = AnonymousCredentials()
        self.client = storage.Client(**kwargs)
        self.bucket = self.client.bucket(bucket)
        self.chunk_bytes = chunk_bytes

    @contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        blob = self.bucket.blob(name, chunk_size=self.chunk_bytes)
        try:
            stream = blob.open("wb", content_type="application/octet-stream", if_generation_match=0)
        except _FAILURES as exc:
            raise _translated(exc, name) from None
        try:
            yield cast(BinaryIO, _TranslatingWriter(stream, name))
        except BaseException:
            # Cancels the resumable upload (and keeps the writer's finalizer from completing
            # it with what was buffered): no object, not even a partial one.
            with contextlib.suppress(*_FAILURES):
                stream.terminate()
            raise
        try:
            stream.close()
        except _FAILURES as exc:
            raise _translated(exc, name) from None

    @contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        blob = self.bucket.blob(name, chunk_size=self.chunk_bytes)
        try:
            blob.reload()  # a missing blob is BlobMissing here, before any byte is promised
            stream = blob.open("rb")
        except google_exceptions.NotFound:
            raise BlobMissing(f"no blob {name}") from None
        except _FAILURES as exc:
            raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None
        with stream:
            yield cast(BinaryIO, _Translating(stream))

    def size(self, name: str) -> int:
        try:
            blob = self.bucket.get_blob(name)
        except _FAILURES as exc:
            raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None
        if blob is None:
            raise BlobMissing(f"no blob {name}")
        return int(blob.size or 0)

    def names(self, prefix: str) -> Iterator[str]:
        try:
            for blob in self.client.list_blobs(self.bucket, prefix=prefix):
                yield blob.name
        except _FAILURES as exc:
            raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None

    def delete(self, names: Iterable[str]) -> int:
        deleted = 0
        for name in names:
            try:
                self.bucket.blob(name).delete()
                deleted += 1
            except google_exceptions.NotFound:
                continue
            except _FAILURES as exc:
                raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None
        return deleted


def _translated(exc: BaseException, name: str) -> BlobStoreError:
    """A write's failure as the contract names it: 412 (the object exists) is BlobExists."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "code", None)
    if isinstance(exc, google_exceptions.PreconditionFailed) or status == 412:
        return BlobExists(f"blob {name} exists")
    return BlobStoreError(f"media bucket: {type(exc).__name__}")


class _TranslatingWriter:
    """An upload stream whose failures (a chunk is sent once 8 MiB are buffered) are the
    contract's errors, not the client's."""

    def __init__(self, stream: Any, name: str) -> None:
        self.stream, self.name = stream, name

    def write(self, data: bytes) -> int:
        try:
            return int(self.stream.write(data))
        except _FAILURES as exc:
            raise _translated(exc, self.name) from None


class _Translating:
    """A blob reader whose failures part way are BlobStoreError, as the contract says."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self.stream.read(size))
        except google_exceptions.NotFound:
            raise BlobMissing("the blob was deleted while being read") from None
        except _FAILURES as exc:
            raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None
