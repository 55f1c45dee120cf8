"""The configured message store (settings.GROUPIE_STORE), one instance per process."""

from __future__ import annotations

from groupie.backends import BackendHandler
from messages.stores.base import MessageStore

stores: BackendHandler[MessageStore] = BackendHandler("GROUPIE_STORE", MessageStore)


def get_store() -> MessageStore:
    return stores.get()
