"""Sealing and opening records with the configured store and keyring.

This is where the crypto library meets Django settings and the archive's store: one ChatKeys
per process (the store holds the wrapped chat keys, the keyring wraps them), rebuilt when
GROUPIE_STORE, GROUPIE_KEYRING or the cache setting changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from crypto import envelope
from crypto.chatkeys import ChatKeys
from crypto.envelope import Identity
from crypto.errors import CryptoError
from crypto.keyrings.base import Keyring
from groupie import metrics
from groupie.backends import BackendHandler
from messages.stores import get_store

keyrings: BackendHandler[Keyring] = BackendHandler("GROUPIE_KEYRING", Keyring)
_chat_keys: ChatKeys | None = None
_lock = threading.Lock()


def get_keyring() -> Keyring:
    return keyrings.get()


def chat_keys() -> ChatKeys:
    global _chat_keys
    with _lock:
        if _chat_keys is None:
            cache = settings.GROUPIE_CHAT_KEY_CACHE
            _chat_keys = ChatKeys(
                get_store(),
                get_keyring(),
                ttl=cache["TTL_SECONDS"],
                max_keys=cache["MAX_KEYS"],
                on_keyring_call=lambda op, result: metrics.KEYRING_CALLS.labels(op, result).inc(),
                on_eviction=metrics.CHAT_KEY_CACHE_EVICTIONS.inc,
                on_cache_lookup=_count_cache_lookup,
            )
        return _chat_keys


def _count_cache_lookup(hit: bool) -> None:
    metrics.CHAT_KEY_CACHE.labels("hit" if hit else "miss").inc()


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _chat_keys
    if setting in {"GROUPIE_STORE", "GROUPIE_KEYRING", "GROUPIE_CHAT_KEY_CACHE"}:
        with _lock:
            _chat_keys = None


setting_changed.connect(_reset)


def seal(chat_id: int, identity: Identity, plaintext: bytes) -> bytes:
    """Seals ``plaintext`` under the chat's active key (created on the chat's first record)."""
    version, key = chat_keys().active_key(chat_id)
    return envelope.seal(key, version, identity, plaintext)


def seal_all(
    chat_id: int,
    items: Sequence[tuple[Identity, bytes]],
    tokenize: Callable[[bytes], frozenset[bytes]] | None = None,
    commit: Callable[[bytes, int, bytes], bytes] | None = None,
) -> tuple[int, list[bytes], frozenset[bytes] | None, bytes | None]:
    """Seals several records of one chat under the same active key version; returns it too,
    ``tokenize(key)``, the search tokens under that version's key, if asked for, and
    ``commit(key, version, first envelope)``, the first record's log leaf, if asked for."""
    version, key = chat_keys().active_key(chat_id)
    sealed = [envelope.seal(key, version, identity, plain) for identity, plain in items]
    tokens = tokenize(key) if tokenize is not None else None
    leaf = commit(key, version, sealed[0]) if commit is not None and sealed else None
    return version, sealed, tokens, leaf


def open_one(identity: Identity, sealed: bytes) -> bytes:
    """Opens one envelope; raises a CryptoError subclass, never returns anything else."""
    [result] = open_many([(identity, sealed)])
    if isinstance(result, CryptoError):
        raise result
    return result


def open_many(items: Sequence[tuple[Identity, bytes]]) -> list[bytes | CryptoError]:
    """Opens a batch with one store read for the chat keys' states; each chat key needed is
    unwrapped at most once (the cache holds it).

    A record that fails comes back as its error, in place, so one bad record does not hide a
    page; the caller reports it as such. A keyring outage is not a property of a record: it
    raises KeyringError (the caller answers 503)."""
    results = chat_keys().open_many(items)
    for result in results:
        if isinstance(result, CryptoError):
            metrics.DECRYPT_FAILURES.labels(type(result).__name__).inc()
    return results
