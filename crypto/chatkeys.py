"""Chat keys: one 32-byte key per chat and version, stored only wrapped by the keyring's KEK.

A chat's key is the unit of rotation and of crypto-shredding. Unwrapped keys are kept in a
per-process TTL cache, so the keyring (Cloud KMS in production) is called about once per chat
per TTL per process, not once per message. Framework-free: the store and keyring are passed in.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from crypto.cache import TTLCache
from crypto.errors import ChatKeyDestroyed, ChatKeyMissing
from crypto.keyrings.base import Keyring

ACTIVE, RETIRED, DESTROYED = "active", "retired", "destroyed"
_WRAP_AAD = struct.Struct(">qI")


@dataclass(frozen=True)
class ChatKeyRecord:
    chat_id: int
    version: int
    wrapped: bytes
    kek_version: str
    state: str  # ACTIVE, RETIRED or DESTROYED
    created_at: datetime


class ChatKeyStore(Protocol):
    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        """Every version of the chat's key, oldest first."""

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        """Stores ``record`` unless that (chat, version) exists; returns the stored one."""


def wrap_aad(chat_id: int, version: int) -> bytes:
    """Binds a wrapped key to its chat and version: a wrapped key copied elsewhere won't open."""
    return b"groupie/v1/chat-key|" + _WRAP_AAD.pack(chat_id, version)


class ChatKeys:
    def __init__(
        self,
        store: ChatKeyStore,
        keyring: Keyring,
        *,
        ttl: float = 600,
        max_keys: int = 1000,
        on_keyring_call: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.keys: TTLCache[bytes] = TTLCache(ttl, max_keys)
        self.active_versions: TTLCache[int] = TTLCache(ttl, max_keys)
        self._on_keyring_call = on_keyring_call or (lambda op: None)

    def active_key(self, chat_id: int) -> tuple[int, bytes]:
        """The version and key new records of this chat are sealed with, created if needed."""
        version = self.active_versions.get(chat_id)
        if version is not None:
            key = self.keys.get((chat_id, version))
            if key is not None:
                return version, key
        records = self.store.get_chat_keys(chat_id)
        active = [r for r in records if r.state == ACTIVE]
        record = active[-1] if active else self._create(chat_id, records)
        key = self._unwrap(record)
        self.active_versions.set(chat_id, record.version)
        return record.version, key

    def key(self, chat_id: int, version: int) -> bytes:
        """The key of one version, for opening records. Raises ChatKeyMissing/ChatKeyDestroyed."""
        key = self.keys.get((chat_id, version))
        if key is not None:
            return key
        record = next((r for r in self.store.get_chat_keys(chat_id) if r.version == version), None)
        if record is None:
            raise ChatKeyMissing(f"chat {chat_id} has no key version {version}")
        return self._unwrap(record)

    def forget(self, chat_id: int) -> None:
        """Drops a chat's cached keys (after rotation or shredding)."""
        self.active_versions.discard(chat_id)
        for record in self.store.get_chat_keys(chat_id):
            self.keys.discard((chat_id, record.version))

    def _create(self, chat_id: int, existing: list[ChatKeyRecord]) -> ChatKeyRecord:
        version = max((r.version for r in existing), default=0) + 1
        secret = os.urandom(32)
        self._on_keyring_call("wrap")
        wrapped, kek_version = self.keyring.wrap(secret, wrap_aad(chat_id, version))
        record = ChatKeyRecord(
            chat_id=chat_id,
            version=version,
            wrapped=wrapped,
            kek_version=kek_version,
            state=ACTIVE,
            created_at=datetime.now(UTC),
        )
        stored = self.store.add_chat_key(record)
        if stored.wrapped == wrapped:
            self.keys.set((chat_id, version), secret)
        # Otherwise another process created this version first: its key is the one to use.
        return stored

    def _unwrap(self, record: ChatKeyRecord) -> bytes:
        if record.state == DESTROYED:
            raise ChatKeyDestroyed(
                f"chat {record.chat_id} key version {record.version} is shredded"
            )
        key = self.keys.get((record.chat_id, record.version))
        if key is None:
            self._on_keyring_call("unwrap")
            key, primary = self.keyring.unwrap(
                record.wrapped, wrap_aad(record.chat_id, record.version)
            )
            if not primary:
                # Still readable, but under an older KEK version: rewrap_keys will move it.
                self._on_keyring_call("unwrap-not-primary")
            self.keys.set((record.chat_id, record.version), key)
        return key
