"""The configured media store (settings.GROUPIE_MEDIA_STORE), one instance per process."""

from __future__ import annotations

from groupie.backends import BackendHandler
from messages.media.blobs.base import BlobStore

blob_stores: BackendHandler[BlobStore] = BackendHandler("GROUPIE_MEDIA_STORE", BlobStore)


def get_blob_store() -> BlobStore:
    return blob_stores.get()
