"""The media store contract: named, immutable blobs of sealed bytes, written and read as streams.

A backend only ever sees ciphertext (crypto/media.py seals before a byte reaches it). Names
are ``archives/<archive id>/chats/<chat_id>/<message_id>/<file_unique_id>.<chat-key version>``:

- the archive id is the archive's own (messages/media/archive.py, kept in its database), so two
  archives sharing a directory or a bucket never name the same object, and each one's shred,
  purge and verify see only its own prefix;
- a chat's blobs share a prefix (a shred deletes them even if their records are gone);
- a re-sealed file gets a new name, so a blob is never rewritten in place.

Archives made before the archive id keep their files under ``chats/…`` (their records name
them); nothing is moved.

Writes are create-only: a store never replaces an object, whoever made it. Writing a name that
exists raises BlobExists and leaves the object as it was.

Every method raises BlobStoreError when the store cannot be reached or refuses; ``reader``
raises BlobMissing for a name it does not hold. Nothing else escapes.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

from messages.stores.records import StoreError


class BlobStoreError(StoreError):
    """The media store failed or is unreachable: an outage, like the message store's (callers
    retry later, or answer 503; the key commands stop cleanly)."""


class BlobMissing(BlobStoreError):
    """No blob has that name."""


class BlobExists(BlobStoreError):
    """A blob of that name exists already: the write kept nothing and replaced nothing."""


def archive_prefix(archive_id: str) -> str:
    return f"archives/{archive_id}/"


def chat_prefix(archive_id: str, chat_id: int) -> str:
    return f"{archive_prefix(archive_id)}chats/{chat_id}/"


def blob_name(
    archive_id: str, chat_id: int, message_id: int, file_unique_id: str, key_version: int
) -> str:
    return f"{chat_prefix(archive_id, chat_id)}{message_id}/{file_unique_id}.{key_version}"


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def writer(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A stream to write the new blob ``name`` to. The blob exists, whole, only once the
        block exits without an exception; on an exception nothing of it is kept. Raises
        BlobExists (at the start, a write or the end) when ``name`` exists: never replaces."""

    @abc.abstractmethod
    def reader(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A stream of the blob's bytes, read as they are needed (never all at once)."""

    @abc.abstractmethod
    def size(self, name: str) -> int:
        """The blob's size in bytes; raises BlobMissing."""

    @abc.abstractmethod
    def names(self, prefix: str) -> Iterator[str]:
        """The names under ``prefix``, in no particular order."""

    @abc.abstractmethod
    def delete(self, names: Iterable[str]) -> int:
        """Deletes the blobs named (a missing one is not an error); returns how many were."""

    def delete_prefix(self, prefix: str) -> int:
        """Deletes every blob under ``prefix``; returns how many there were."""
        return self.delete(list(self.names(prefix)))
