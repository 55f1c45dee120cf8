"""The media store contract: named, immutable blobs of sealed bytes, written and read as streams.

A backend only ever sees ciphertext (crypto/media.py seals before a byte reaches it). Names
are ``chats/<chat_id>/<message_id>/<file_unique_id>.<chat-key version>``: a chat's blobs share
a prefix (a shred deletes them even if their records are gone), and a re-sealed file gets a
new name, so a blob is never rewritten in place.

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


def chat_prefix(chat_id: int) -> str:
    return f"chats/{chat_id}/"


def blob_name(chat_id: int, message_id: int, file_unique_id: str, key_version: int) -> str:
    return f"{chat_prefix(chat_id)}{message_id}/{file_unique_id}.{key_version}"


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def writer(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A stream to write the blob ``name`` to. The blob exists, whole, only once the block
        exits without an exception; on an exception nothing of it is kept."""

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
