"""Chat keys: one per chat and version, stored only wrapped, unwrapped about once per TTL."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto.chatkeys import (
    ACTIVE,
    DESTROYED,
    RETIRED,
    SUPERSEDED,
    ChatKeyRecord,
    ChatKeys,
    wrap_aad,
)
from crypto.errors import ChatKeyDestroyed, ChatKeyMissing, ChatKeyRetired, DecryptionError
from crypto.keyrings.local import LocalKeyring
from messages import sortkey
from messages.stores.orm import ORMStore
from messages.stores.records import ChatSnapshot, SealedMessage

pytestmark = pytest.mark.django_db

CHAT = -1001234567890123
OTHER_CHAT = -1002718281828459


class CountingKeyring(LocalKeyring):
    """The real LocalKeyring, counting how often it is asked to wrap and unwrap."""

    def __init__(self, *, path: str) -> None:
        super().__init__(path=path)
        self.wraps = 0
        self.unwraps = 0

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[bytes, str]:
        self.wraps += 1
        return super().wrap(plaintext, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> tuple[bytes, bool]:
        self.unwraps += 1
        return super().unwrap(wrapped, aad)


@pytest.fixture
def store() -> ORMStore:
    return ORMStore()


@pytest.fixture
def keyring(keyring_path: Path) -> CountingKeyring:
    return CountingKeyring(path=str(keyring_path))


@pytest.fixture
def chat_keys(store: ORMStore, keyring: CountingKeyring) -> ChatKeys:
    return ChatKeys(store, keyring)


def another_process(store: ORMStore, keyring_path: Path, **kwargs: float) -> ChatKeys:
    """A ChatKeys with its own keyring instance and an empty cache, as a second worker has."""
    return ChatKeys(store, CountingKeyring(path=str(keyring_path)), **kwargs)


def put_message(store: ORMStore, chat_id: int, chat_keys: ChatKeys) -> None:
    """One record of the chat, sealed with its active key, as archive() stores it."""
    version, _ = chat_keys.active_key(chat_id)
    store.put_message(
        SealedMessage(
            chat=ChatSnapshot(chat_id=chat_id, type="supergroup"),
            message_id=1,
            date=1_700_000_000,
            edit_date=0,
            kind="text",
            envelope=b"sealed",
            key_version=version,
            sort_key=sortkey.sort_key(1_700_000_000, chat_id, 1),
        )
    )


def record(chat_id: int, version: int, wrapped: bytes, state: str = ACTIVE) -> ChatKeyRecord:
    return ChatKeyRecord(
        chat_id=chat_id,
        version=version,
        wrapped=wrapped,
        kek_version="1",
        state=state,
        created_at=datetime.now(UTC),
    )


def test_the_first_active_key_of_a_chat_is_version_one(
    chat_keys: ChatKeys, store: ORMStore
) -> None:
    version, key = chat_keys.active_key(CHAT)
    assert version == 1
    assert len(key) == 32
    [stored] = store.get_chat_keys(CHAT)
    assert (stored.chat_id, stored.version, stored.state) == (CHAT, 1, ACTIVE)
    assert stored.kek_version == "1"


def test_the_stored_key_is_wrapped_not_plain(chat_keys: ChatKeys, store: ORMStore) -> None:
    _, key = chat_keys.active_key(CHAT)
    [stored] = store.get_chat_keys(CHAT)
    assert key not in stored.wrapped


def test_it_creates_a_chat_key_once_and_returns_the_same_key_after(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    first = chat_keys.active_key(CHAT)
    for _ in range(5):
        assert chat_keys.active_key(CHAT) == first
    assert len(store.get_chat_keys(CHAT)) == 1
    assert keyring.wraps == 1


def test_each_chat_gets_its_own_key(chat_keys: ChatKeys) -> None:
    one = chat_keys.active_key(CHAT)
    two = chat_keys.active_key(OTHER_CHAT)
    assert one[0] == two[0] == 1
    assert one[1] != two[1]


def test_many_calls_for_one_chat_unwrap_at_most_once(
    chat_keys: ChatKeys, keyring: CountingKeyring
) -> None:
    version, key = chat_keys.active_key(CHAT)
    for _ in range(100):
        assert chat_keys.active_key(CHAT) == (version, key)
        assert chat_keys.key(CHAT, version) == key
    assert keyring.wraps == 1
    assert keyring.unwraps <= 1


def test_a_fresh_process_unwraps_a_stored_key_once_for_many_calls(
    chat_keys: ChatKeys, store: ORMStore, keyring_path: Path
) -> None:
    version, _ = chat_keys.active_key(CHAT)
    fresh = another_process(store, keyring_path)
    for _ in range(100):
        fresh.active_key(CHAT)
        fresh.key(CHAT, version)
    assert fresh.keyring.unwraps == 1
    assert fresh.keyring.wraps == 0


def test_another_process_with_an_empty_cache_gets_the_same_key(
    chat_keys: ChatKeys, store: ORMStore, keyring_path: Path
) -> None:
    version, key = chat_keys.active_key(CHAT)
    fresh = another_process(store, keyring_path)
    assert fresh.key(CHAT, version) == key
    assert fresh.active_key(CHAT) == (version, key)
    assert len(store.get_chat_keys(CHAT)) == 1


def test_another_process_gets_the_same_key_after_a_kek_rotation(
    chat_keys: ChatKeys, store: ORMStore, keyring_path: Path
) -> None:
    version, key = chat_keys.active_key(CHAT)
    LocalKeyring(path=str(keyring_path)).rotate()
    fresh = another_process(store, keyring_path)
    assert fresh.key(CHAT, version) == key


def test_a_wrapped_key_copied_to_another_chat_does_not_unwrap(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    chat_keys.active_key(CHAT)
    [stored] = store.get_chat_keys(CHAT)
    with pytest.raises(DecryptionError):
        keyring.unwrap(stored.wrapped, wrap_aad(OTHER_CHAT, 1))


def test_a_wrapped_key_copied_to_another_version_does_not_unwrap(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    chat_keys.active_key(CHAT)
    [stored] = store.get_chat_keys(CHAT)
    assert keyring.unwrap(stored.wrapped, wrap_aad(CHAT, 1))[0] == chat_keys.key(CHAT, 1)
    with pytest.raises(DecryptionError):
        keyring.unwrap(stored.wrapped, wrap_aad(CHAT, 2))


def test_a_chat_key_row_copied_to_another_chat_is_refused(
    chat_keys: ChatKeys, store: ORMStore, keyring_path: Path
) -> None:
    chat_keys.active_key(CHAT)
    [stored] = store.get_chat_keys(CHAT)
    store.add_chat_key(record(OTHER_CHAT, 1, stored.wrapped))
    fresh = another_process(store, keyring_path)
    with pytest.raises(DecryptionError):
        fresh.key(OTHER_CHAT, 1)
    with pytest.raises(DecryptionError):
        fresh.active_key(OTHER_CHAT)


def test_wrap_aad_differs_for_every_chat_and_version() -> None:
    aads = {wrap_aad(c, v) for c in (CHAT, OTHER_CHAT, -CHAT, 0, 1) for v in (1, 2, 3)}
    assert len(aads) == 15


def test_a_missing_version_raises_chat_key_missing(chat_keys: ChatKeys) -> None:
    chat_keys.active_key(CHAT)
    with pytest.raises(ChatKeyMissing):
        chat_keys.key(CHAT, 2)


def test_a_chat_without_keys_raises_chat_key_missing(chat_keys: ChatKeys, store: ORMStore) -> None:
    with pytest.raises(ChatKeyMissing):
        chat_keys.key(CHAT, 1)
    assert store.get_chat_keys(CHAT) == []


def test_a_destroyed_key_raises_chat_key_destroyed(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    wrapped, _ = keyring.wrap(bytes(32), wrap_aad(CHAT, 1))
    store.add_chat_key(record(CHAT, 1, wrapped, state=DESTROYED))
    unwraps = keyring.unwraps
    with pytest.raises(ChatKeyDestroyed):
        chat_keys.key(CHAT, 1)
    assert keyring.unwraps == unwraps


def test_a_chat_whose_key_was_destroyed_gets_a_new_version(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    wrapped, _ = keyring.wrap(bytes(32), wrap_aad(CHAT, 1))
    store.add_chat_key(record(CHAT, 1, wrapped, state=DESTROYED))
    version, key = chat_keys.active_key(CHAT)
    assert version == 2
    assert key != bytes(32)
    with pytest.raises(ChatKeyDestroyed):
        chat_keys.key(CHAT, 1)


def test_a_superseded_key_still_opens_old_records(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    old = bytes(range(32))
    wrapped, _ = keyring.wrap(old, wrap_aad(CHAT, 1))
    store.add_chat_key(record(CHAT, 1, wrapped, state=SUPERSEDED))
    assert chat_keys.key(CHAT, 1) == old
    version, key = chat_keys.active_key(CHAT)
    assert version == 2
    assert key != old


def test_a_retired_key_opens_nothing(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    store.add_chat_key(record(CHAT, 1, b"", state=RETIRED))
    with pytest.raises(ChatKeyRetired):
        chat_keys.key(CHAT, 1)


def test_a_key_destroyed_by_another_process_is_not_served_from_the_cache(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    version, key = chat_keys.active_key(CHAT)
    assert chat_keys.key(CHAT, version) == key  # cached now
    current = store.get_chat_keys(CHAT)
    assert store.change_chat_keys(CHAT, current, [r.erased(DESTROYED) for r in current])
    unwraps = keyring.unwraps
    with pytest.raises(ChatKeyDestroyed):
        chat_keys.key(CHAT, version)
    assert keyring.unwraps == unwraps
    assert chat_keys.keys.get((CHAT, version)) is None  # and the cached key is dropped


def test_no_new_key_while_a_shred_is_deleting_the_chat(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    """Keys destroyed, records not yet deleted: a message arriving now is refused (503, so
    Telegram redelivers) rather than archived and then deleted by the shred."""
    put_message(store, CHAT, chat_keys)
    current = store.get_chat_keys(CHAT)
    store.change_chat_keys(CHAT, current, [r.erased(DESTROYED) for r in current])
    chat_keys.forget(CHAT)
    with pytest.raises(ChatKeyDestroyed):
        chat_keys.active_key(CHAT)
    store.delete_chat(CHAT)
    assert chat_keys.active_key(CHAT)[0] == 2  # once deleted, the chat starts afresh


def test_the_newest_active_version_is_the_one_used(
    chat_keys: ChatKeys, store: ORMStore, keyring: CountingKeyring
) -> None:
    keys = {v: bytes([v]) * 32 for v in (1, 2)}
    for version, key in keys.items():
        wrapped, _ = keyring.wrap(key, wrap_aad(CHAT, version))
        store.add_chat_key(record(CHAT, version, wrapped))
    assert chat_keys.active_key(CHAT) == (2, keys[2])


def test_the_cache_expires_after_its_ttl_and_unwraps_again(
    store: ORMStore, keyring_path: Path
) -> None:
    ChatKeys(store, CountingKeyring(path=str(keyring_path))).active_key(CHAT)
    chat_keys = another_process(store, keyring_path, ttl=0.05)
    version, key = chat_keys.active_key(CHAT)
    assert chat_keys.keyring.unwraps == 1
    time.sleep(0.1)
    assert chat_keys.active_key(CHAT) == (version, key)
    assert chat_keys.keyring.unwraps == 2
    time.sleep(0.1)
    assert chat_keys.key(CHAT, version) == key
    assert chat_keys.keyring.unwraps == 3


def test_within_its_ttl_the_cache_does_not_unwrap_again(
    store: ORMStore, keyring_path: Path
) -> None:
    ChatKeys(store, CountingKeyring(path=str(keyring_path))).active_key(CHAT)
    chat_keys = another_process(store, keyring_path, ttl=3600)
    chat_keys.active_key(CHAT)
    chat_keys.active_key(CHAT)
    assert chat_keys.keyring.unwraps == 1


def test_a_cache_bounded_to_one_key_unwraps_again_when_chats_alternate(
    store: ORMStore, keyring_path: Path
) -> None:
    creator = ChatKeys(store, CountingKeyring(path=str(keyring_path)))
    creator.active_key(CHAT)
    creator.active_key(OTHER_CHAT)
    chat_keys = another_process(store, keyring_path, max_keys=1)
    for _ in range(3):
        chat_keys.key(CHAT, 1)
        chat_keys.key(OTHER_CHAT, 1)
    assert chat_keys.keyring.unwraps == 6


def test_forget_makes_the_next_call_unwrap_again(
    chat_keys: ChatKeys, keyring: CountingKeyring
) -> None:
    version, key = chat_keys.active_key(CHAT)
    chat_keys.forget(CHAT)
    assert chat_keys.active_key(CHAT) == (version, key)
    assert keyring.unwraps == 1


def test_it_reports_each_keyring_call_and_its_result(store: ORMStore, keyring_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    def chat_keys() -> ChatKeys:
        keyring = LocalKeyring(path=str(keyring_path))
        return ChatKeys(store, keyring, on_keyring_call=lambda *call: calls.append(call))

    chat_keys().active_key(CHAT)
    fresh = chat_keys()
    fresh.active_key(CHAT)
    fresh.active_key(CHAT)
    assert calls == [("wrap", "ok"), ("unwrap", "ok")]
    # A wrapped key that does not open under this keyring: the keyring refused it.
    record = store.get_chat_keys(CHAT)[0]
    tampered = replace(record, wrapped=record.wrapped[:-1] + bytes([record.wrapped[-1] ^ 1]))
    with pytest.raises(DecryptionError):
        chat_keys().unwrap(tampered)
    assert calls[-1] == ("unwrap", "refused")


class RacingStore(ORMStore):
    """The real ORMStore, where another process stores the chat's first key just before us."""

    def __init__(self, competitor: ChatKeyRecord) -> None:
        super().__init__()
        self.competitor: ChatKeyRecord | None = competitor

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        if self.competitor is not None:
            super().add_chat_key(self.competitor)
            self.competitor = None
        return super().add_chat_key(record)


def test_a_process_that_loses_the_race_to_create_a_key_adopts_the_winners(
    keyring: CountingKeyring,
) -> None:
    winners_key = bytes(range(32))
    wrapped, _ = keyring.wrap(winners_key, wrap_aad(CHAT, 1))
    store = RacingStore(record(CHAT, 1, wrapped))
    loser = ChatKeys(store, keyring)
    assert loser.active_key(CHAT) == (1, winners_key)
    assert loser.key(CHAT, 1) == winners_key
    assert [r.wrapped for r in store.get_chat_keys(CHAT)] == [wrapped]
