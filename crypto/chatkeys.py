"""Chat keys: one 32-byte key per chat and version, stored only wrapped by the keyring's KEK.

A chat's key is the unit of rotation and of crypto-shredding. A version's life:

- ``active``: new records of the chat are sealed with it; exactly one per chat;
- ``superseded``: a newer version is active (``rotate_chat_keys``); it still opens the records
  sealed with it until ``reencrypt_messages`` has re-sealed them;
- ``retired``: no record uses it any more; its wrapped key is erased;
- ``destroyed``: the chat was shredded; its wrapped key is erased.

Unwrapped keys are kept in a per-process TTL cache, so the keyring (Cloud KMS in production) is
called about once per chat per TTL per process, not once per message. The cache never decides
whether a version may be used: every batch of records opened checks the versions' states in the
store first (one read per batch), and the store refuses a record sealed with a version that is
no longer active. So a rotation, retirement or shred in another process takes effect at once.
Framework-free: the store and keyring are passed in.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from crypto import envelope
from crypto.cache import TTLCache
from crypto.envelope import Identity
from crypto.errors import (
    ChatKeyDestroyed,
    ChatKeyMissing,
    ChatKeyRetired,
    CryptoError,
    DecryptionError,
    KeyringError,
    KeyringMismatch,
)
from crypto.keyrings.base import Keyring

ACTIVE, SUPERSEDED, RETIRED, DESTROYED = "active", "superseded", "retired", "destroyed"
STATES = (ACTIVE, SUPERSEDED, RETIRED, DESTROYED)
OPENABLE = frozenset({ACTIVE, SUPERSEDED})  # the states whose wrapped key is kept
KEYRING_SAMPLE = 3  # the newest chat keys checked against the keyring
CREATION_LOCKS = 64  # striped: new chats whose ids share a stripe make their keys in turn
_WRAP_AAD = struct.Struct(">qI")


@dataclass(frozen=True)
class ChatKeyRecord:
    chat_id: int
    version: int
    wrapped: bytes  # empty once retired or destroyed
    kek_version: str
    state: str  # one of STATES
    created_at: datetime
    changed_at: datetime | None = None  # when the state last changed

    def erased(self, state: str) -> ChatKeyRecord:
        """This version retired or destroyed: the wrapped key is gone for good."""
        return replace(self, state=state, wrapped=b"", changed_at=datetime.now(UTC))


class ChatKeyStore(Protocol):
    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        """Every version of the chat's key, oldest first."""

    def get_chat_keys_many(self, chat_ids: Collection[int]) -> dict[int, list[ChatKeyRecord]]:
        """Every version of each chat's key, oldest first; chats without keys are left out."""

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        """Stores ``record`` unless that (chat, version) exists; returns the stored one."""

    def get_chat(self, chat_id: int) -> object | None:
        """The chat's directory entry, present while the chat has records."""

    def newest_chat_keys(self, limit: int) -> list[ChatKeyRecord]:
        """Up to ``limit`` of the most recently created chat keys whose wrapped key is kept
        (active or superseded), newest first."""


def wrap_aad(chat_id: int, version: int) -> bytes:
    """Binds a wrapped key to its chat and version: a wrapped key copied elsewhere won't open."""
    return b"groupie/v1/chat-key|" + _WRAP_AAD.pack(chat_id, version)


def is_shredded(records: Iterable[ChatKeyRecord]) -> bool:
    """Whether the chat's newest key version was destroyed (and none was created since)."""
    records = list(records)
    return bool(records) and records[-1].state == DESTROYED


class ChatKeys:
    def __init__(
        self,
        store: ChatKeyStore,
        keyring: Keyring,
        *,
        ttl: float = 600,
        max_keys: int = 1000,
        on_keyring_call: Callable[[str, str], None] | None = None,
        on_eviction: Callable[[], None] | None = None,
        on_cache_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.keys: TTLCache[bytes] = TTLCache(ttl, max_keys, on_evict=on_eviction)
        self.active_versions: TTLCache[int] = TTLCache(ttl, max_keys)
        # (operation, result): wrap or unwrap; ok, not_primary, refused or error.
        self._on_keyring_call = on_keyring_call or (lambda operation, result: None)
        self._on_cache_lookup = on_cache_lookup or (lambda hit: None)
        self._creation_locks = [threading.Lock() for _ in range(CREATION_LOCKS)]

    def active_key(self, chat_id: int) -> tuple[int, bytes]:
        """The version and key new records of this chat are sealed with, created if needed.

        The version may be stale (rotated in another process within the TTL): the store then
        refuses the record and the caller calls ``forget`` and seals again."""
        version = self.active_versions.get(chat_id)
        if version is not None:
            key = self.keys.get((chat_id, version))
            if key is not None:
                return version, key
        record = self._active_record(chat_id)
        if record is None:
            # A new chat, or one starting afresh after a shred. Its first messages often arrive
            # together (an album, a burst): the threads of this process make its key one at a
            # time, so only the first wraps one (a keyring call, a Cloud KMS Encrypt) and the
            # others find it made. Across processes the store keeps the first version added;
            # at most one wrap per process.
            with self._creation_locks[hash(chat_id) % len(self._creation_locks)]:
                records = self.store.get_chat_keys(chat_id)
                record = self._active_of(chat_id, records)
                if record is None:
                    self.verify_keyring()
                    # The version after the newest of the same read that found none active,
                    # never of a later one: a process that made one since made that very
                    # version, and the store keeps the first added. (Numbered from a later
                    # read, this one would add the version after it: a second active key.)
                    record = self._create(chat_id, records)
        key = self._unwrap(record)
        self.active_versions.set(chat_id, record.version)
        return record.version, key

    def current_key(self, chat_id: int) -> tuple[int, bytes] | None:
        """The chat's active version and key as stored now (one store read, never the cached
        version), or None when the chat has none: never created here. For work that follows
        a record's creation at a distance (a media fetch), which must neither seal under a
        version rotated since nor start a shredded chat afresh."""
        records = self.store.get_chat_keys(chat_id)
        active = [r for r in records if r.state == ACTIVE]
        if not active:
            return None
        return active[-1].version, self._unwrap(active[-1])

    def version_state(self, chat_id: int, version: int) -> str | None:
        """A version's state as stored now (None if it does not exist)."""
        records = self.store.get_chat_keys(chat_id)
        return next((r.state for r in records if r.version == version), None)

    def _active_record(self, chat_id: int) -> ChatKeyRecord | None:
        """The chat's active key version as stored, or None if it has none yet."""
        return self._active_of(chat_id, self.store.get_chat_keys(chat_id))

    def _active_of(self, chat_id: int, records: list[ChatKeyRecord]) -> ChatKeyRecord | None:
        """The active version among the chat's ``records``, or None if it has none."""
        active = [r for r in records if r.state == ACTIVE]
        if active:
            return active[-1]
        if is_shredded(records) and self.store.get_chat(chat_id) is not None:
            # Its keys are destroyed but its records not yet deleted: a shred is under way.
            # Refusing (the webhook answers 503) lets Telegram redeliver once it is done, when
            # the message starts the chat afresh under a new key.
            raise ChatKeyDestroyed(f"chat {chat_id} is being shredded")
        return None

    def keys_for(
        self, wanted: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes | CryptoError]:
        """The keys of (chat, version) pairs for opening records, with one store read for all.

        A version that is missing, retired or destroyed, or whose wrapped key fails to unwrap,
        maps to its error. A keyring outage raises KeyringError (the caller answers 503)."""
        wanted = set(wanted)
        stored = self.store.get_chat_keys_many({chat_id for chat_id, _ in wanted})
        return self._keys_from(stored, wanted)

    def openable_keys(self, chat_ids: Collection[int]) -> dict[tuple[int, int], bytes]:
        """The key of every version of these chats that still opens records (active or
        superseded), with one store read; a version whose key fails to unwrap is left out.
        What a search derives its index keys from."""
        stored = self.store.get_chat_keys_many(chat_ids)
        wanted = {
            (r.chat_id, r.version) for rs in stored.values() for r in rs if r.state in OPENABLE
        }
        found = self._keys_from(stored, wanted)
        return {place: key for place, key in found.items() if not isinstance(key, CryptoError)}

    def _keys_from(
        self, stored: dict[int, list[ChatKeyRecord]], wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes | CryptoError]:
        found: dict[tuple[int, int], bytes | CryptoError] = {}
        for chat_id, version in wanted:
            record = next((r for r in stored.get(chat_id, ()) if r.version == version), None)
            try:
                found[chat_id, version] = self._openable(chat_id, version, record)
            except DecryptionError as exc:
                found[chat_id, version] = exc
            except (ChatKeyMissing, ChatKeyDestroyed, ChatKeyRetired) as exc:
                self.keys.discard((chat_id, version))
                found[chat_id, version] = exc
        if any(isinstance(result, DecryptionError) for result in found.values()):
            # A wrapped key that fails to unwrap is either tampered with (its records' problem)
            # or unwrapped by the wrong keyring (an outage: raises KeyringMismatch). Checked
            # once for the batch, however many of its keys failed.
            self.verify_keyring()
        return found

    def open_many(self, items: Sequence[tuple[Identity, bytes]]) -> list[bytes | CryptoError]:
        """Opens a batch of envelopes with one store read for the keys' states. A record that
        fails comes back as its error, in place; a keyring outage raises KeyringError."""
        versions: list[int | CryptoError] = []
        for _, sealed in items:
            try:
                versions.append(envelope.key_version_of(sealed))
            except CryptoError as exc:
                versions.append(exc)
        keys = self.keys_for(
            (identity.chat_id, version)
            for (identity, _), version in zip(items, versions, strict=True)
            if isinstance(version, int)
        )
        results: list[bytes | CryptoError] = []
        for (identity, sealed), version in zip(items, versions, strict=True):
            key = keys[identity.chat_id, version] if isinstance(version, int) else version
            try:
                if isinstance(key, CryptoError):
                    raise key
                results.append(envelope.open_envelope(key, identity, sealed))
            except CryptoError as exc:
                results.append(exc)
        return results

    def key(self, chat_id: int, version: int) -> bytes:
        """One version's key. Raises ChatKeyMissing, ChatKeyRetired or ChatKeyDestroyed."""
        result = self.keys_for([(chat_id, version)])[chat_id, version]
        if isinstance(result, CryptoError):
            raise result
        return result

    def forget(self, chat_id: int) -> None:
        """Drops a chat's cached keys (after rotation or shredding)."""
        self.active_versions.discard(chat_id)
        self.keys.discard_where(lambda entry: isinstance(entry, tuple) and entry[0] == chat_id)

    def verify_keyring(self) -> None:
        """Raises KeyringMismatch when the keyring is not the one the archive's newest chat
        keys were wrapped under: none of the sampled keys unwraps, and the keyring does not
        explain it by a KEK version an operator disabled. Checked before a chat key is created
        (a key made under the wrong KEK would fork the archive: one store read and one unwrap
        per new chat), before rotate_chat_keys makes new keys, when a wrapped key fails to
        unwrap, and by readiness.

        Only unwraps are needed, which the service's Cloud KMS role allows; the KEK versions
        are listed only when every unwrap failed, to tell a disabled version (key_status
        reports it) from another keyring."""
        failed: list[ChatKeyRecord] = []
        for record in self.store.newest_chat_keys(KEYRING_SAMPLE):
            try:
                self.unwrap(record)
            except DecryptionError:
                failed.append(record)
                continue
            return  # one of the archive's keys unwraps: this is its keyring
        if failed and not self._explained_by_disabled_versions(failed):
            raise KeyringMismatch(_mismatch(failed[0]))

    def _explained_by_disabled_versions(self, failed: list[ChatKeyRecord]) -> bool:
        try:
            known = {v.version: v for v in self.keyring.versions()}
        except KeyringError:
            return False  # not allowed to list them (Encrypter/Decrypter role): no explanation
        return all(r.kek_version in known and not known[r.kek_version].decrypts for r in failed)

    def _openable(self, chat_id: int, version: int, record: ChatKeyRecord | None) -> bytes:
        if record is None:
            raise ChatKeyMissing(f"chat {chat_id} has no key version {version}")
        return self._unwrap(record)

    def _create(self, chat_id: int, existing: list[ChatKeyRecord]) -> ChatKeyRecord:
        """Adds the version after the newest of ``existing``, none of them active. Versions
        are made in sequence, and a version is added only once (the store keeps the first):
        so of the processes that found the chat without an active key, all add the same
        version, and one key comes out of it."""
        version = max((r.version for r in existing), default=0) + 1
        record, secret = self.new_record(chat_id, version)
        stored = self.store.add_chat_key(record)
        if stored.wrapped == record.wrapped:
            self.keys.set((chat_id, version), secret)
        # Otherwise another process created this version first: its key is the one to use.
        return stored

    def new_record(self, chat_id: int, version: int) -> tuple[ChatKeyRecord, bytes]:
        """A fresh random key for (chat, version) and its wrapped record, not yet stored."""
        secret = os.urandom(32)
        wrapped, kek_version = self.wrap(chat_id, version, secret)
        record = ChatKeyRecord(
            chat_id=chat_id,
            version=version,
            wrapped=wrapped,
            kek_version=kek_version,
            state=ACTIVE,
            created_at=datetime.now(UTC),
        )
        return record, secret

    def wrap(self, chat_id: int, version: int, key: bytes) -> tuple[bytes, str]:
        """Wraps a chat key under the primary KEK version; returns (wrapped, KEK version)."""
        with self._keyring_call("wrap") as result:
            wrapped = self.keyring.wrap(key, wrap_aad(chat_id, version))
            result.append("ok")
        return wrapped

    def unwrap(self, record: ChatKeyRecord) -> tuple[bytes, bool]:
        """Asks the keyring for a record's key, bypassing the cache; returns (key, primary)."""
        _require_openable(record)
        aad = wrap_aad(record.chat_id, record.version)
        with self._keyring_call("unwrap") as result:
            key, primary = self.keyring.unwrap(record.wrapped, aad)
            # Not primary: still readable, but under an older KEK version (rewrap_keys moves it).
            result.append("ok" if primary else "not_primary")
        return key, primary

    @contextmanager
    def _keyring_call(self, operation: str) -> Iterator[list[str]]:
        """Reports a keyring call and its result: the body appends its own on success."""
        result: list[str] = []
        try:
            yield result
        except DecryptionError:
            self._on_keyring_call(operation, "refused")
            raise
        except KeyringError:
            self._on_keyring_call(operation, "error")
            raise
        self._on_keyring_call(operation, result[0] if result else "ok")

    def _unwrap(self, record: ChatKeyRecord) -> bytes:
        _require_openable(record)  # before the cache: a cached key outlives no state change
        key = self.keys.get((record.chat_id, record.version))
        self._on_cache_lookup(key is not None)
        if key is None:
            key, _ = self.unwrap(record)
            self.keys.set((record.chat_id, record.version), key)
        return key


def _mismatch(record: ChatKeyRecord) -> str:
    return (
        f"the keyring is not the one this archive's chat keys were wrapped under: chat "
        f"{record.chat_id}'s key v{record.version} names KEK version "
        f"{record.kek_version.rsplit('/', 1)[-1]}, and this keyring cannot unwrap it. Check "
        "GROUPIE_KEYRING, LOCAL_KEYRING_PATH or KMS_KEY_NAME; no chat key is created until "
        "they match"
    )


def _require_openable(record: ChatKeyRecord) -> None:
    if record.state == DESTROYED:
        raise ChatKeyDestroyed(f"chat {record.chat_id} key version {record.version} is shredded")
    if record.state == RETIRED:
        raise ChatKeyRetired(f"chat {record.chat_id} key version {record.version} is retired")
