"""Google Cloud Storage (``GROUPIE_MEDIA_STORE=gcs``, bucket ``GROUPIE_MEDIA_BUCKET``): Cloud Run.

Writes are resumable uploads in 8 MiB chunks and reads are ranged downloads of the same size,
so neither holds a file in memory. An upload that fails part way is never finalized: no
partial object appears. The client honours ``STORAGE_EMULATOR_HOST`` (the tests' emulator).
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

from messages.media.blobs.base import BlobMissing, BlobStore, BlobStoreError

CHUNK_BYTES = 8 * 1024 * 1024
_FAILURES = (google_exceptions.GoogleAPIError, OSError)


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
            stream = blob.open("wb", content_type="application/octet-stream")
        except _FAILURES as exc:
            raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None
        try:
            yield stream
        except BaseException:
            # Cancels the resumable upload (and keeps the writer's finalizer from completing
            # it with what was buffered): no object, not even a partial one.
            with contextlib.suppress(*_FAILURES):
                stream.terminate()
            raise
        try:
            stream.close()
        except _FAILURES as exc:
            raise BlobStoreError(f"media bucket: {type(exc).__name__}") from None

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
