"""Reading a page unwraps each chat key it needs at most once, and not at all when warm."""

from __future__ import annotations

from typing import Any

from groupie.metrics import KEYRING_CALLS
from messages.sealing import chat_keys


def unwraps() -> float:
    return KEYRING_CALLS.labels("unwrap", "ok")._value.get()


def test_a_cold_page_unwraps_at_most_once_per_chat_and_a_warm_one_never(
    api: Any, demo: None
) -> None:
    chat_keys().keys.clear()
    chat_keys().active_versions.clear()
    before = unwraps()
    results = api.get("/api/v1/messages/?page_size=500").json()["results"]
    chats = {r["chat_id"] for r in results}
    assert len(chats) >= 5
    assert all(r["error"] is None for r in results)
    assert unwraps() - before == len(chats)

    before = unwraps()
    api.get("/api/v1/messages/?page_size=500")
    api.get("/api/v1/chats/")
    assert unwraps() == before
