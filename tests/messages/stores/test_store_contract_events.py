"""The store contract's chat events (reactions, membership), run unchanged against every
store backend: idempotent puts, a chat's timeline in pages, narrowing by kind and message,
refusal under a key no longer active, deletion with the chat or before a date, re-sealing
and counting by key version (key rotation)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from crypto.chatkeys import ACTIVE, SUPERSEDED, ChatKeyRecord
from messages.stores.base import MessageStore
from messages.stores.orm import ORMStore
from messages.stores.records import (
    EventQuery,
    EventReseal,
    InactiveChatKey,
    PutOutcome,
    SealedEvent,
)
from tests.conftest import FIRESTORE_LEASE

A, B = -1001000000000001, -1001000000000002


@pytest.fixture(params=["orm", "firestore"])
def store(request: pytest.FixtureRequest, db: None) -> MessageStore:
    if request.param == "firestore":
        from messages.stores.firestore import FirestoreStore

        project = request.getfixturevalue("firestore_project")
        return FirestoreStore(project=project, **FIRESTORE_LEASE)
    return ORMStore()


def key(chat_id: int, version: int = 1, state: str = ACTIVE) -> ChatKeyRecord:
    now = datetime.now(UTC).replace(microsecond=0)
    return ChatKeyRecord(chat_id, version, b"wrapped", "1", state, now)


def event(
    chat_id: int, event_id: int, date: int, kind: str = "chat_member", message_id: int = 0
) -> SealedEvent:
    return SealedEvent(
        chat_id=chat_id,
        kind=kind,
        event_id=event_id,
        date=date,
        message_id=message_id,
        key_version=1,
        envelope=os.urandom(40),
    )


def put(store: MessageStore, item: SealedEvent) -> PutOutcome:
    store.add_chat_key(key(item.chat_id))
    return store.put_event(item)


def ids(page_items: list[SealedEvent]) -> list[int]:
    return [e.event_id for e in page_items]


def test_a_redelivered_event_changes_nothing(store: MessageStore) -> None:
    first = event(A, 10, 1000)
    assert put(store, first) is PutOutcome.CREATED
    again = event(A, 10, 1000)  # the same update, sealed again: another envelope
    assert put(store, again) is PutOutcome.DUPLICATE
    [stored] = store.query_events(EventQuery(A)).items
    assert stored == first


def test_a_chats_events_come_in_pages_by_date_then_identity(store: MessageStore) -> None:
    for event_id, date in ((13, 1002), (11, 1000), (12, 1000), (14, 1003), (15, 1003)):
        put(store, event(A, event_id, date))
    put(store, event(B, 16, 1001))
    seen, after = [], None
    while True:
        page = store.query_events(EventQuery(A, after=after, limit=2))
        seen += ids(page.items)
        if not page.has_more:
            break
        after = page.items[-1].sort_key
    assert seen == [11, 12, 13, 14, 15]
    newest = store.query_events(EventQuery(A, descending=True, limit=2))
    assert ids(newest.items) == [15, 14]
    assert newest.has_more


def test_events_narrow_by_kind_and_by_message(store: MessageStore) -> None:
    put(store, event(A, 1, 100, "my_chat_member"))
    put(store, event(A, 2, 101, "message_reaction", message_id=7))
    put(store, event(A, 3, 102, "message_reaction_count", message_id=7))
    put(store, event(A, 4, 103, "message_reaction", message_id=8))
    many = tuple(range(1, 70))  # more than Firestore's 30 values of one "in" filter
    assert ids(store.query_events(EventQuery(A, kinds=("my_chat_member",))).items) == [1]
    assert ids(store.query_events(EventQuery(A, message_ids=(7,))).items) == [2, 3]
    reactions = EventQuery(A, kinds=("message_reaction",), message_ids=many)
    assert ids(store.query_events(reactions).items) == [2, 4]
    assert ids(store.iter_events(A, message_ids=many, batch_size=1)) == [2, 3, 4]


def test_an_event_under_a_key_no_longer_active_is_refused(store: MessageStore) -> None:
    store.add_chat_key(key(A))
    store.change_chat_keys(A, [key(A)], [key(A, 1, SUPERSEDED), key(A, 2)])
    with pytest.raises(InactiveChatKey):
        store.put_event(event(A, 1, 100))
    assert store.query_events(EventQuery(A)).items == []


def test_events_go_with_their_chat_and_with_old_messages(store: MessageStore) -> None:
    for event_id, date in ((1, 100), (2, 200), (3, 300)):
        put(store, event(A, event_id, date))
    put(store, event(B, 4, 100))
    assert store.delete_messages_before(A, 200).events == 1
    assert ids(store.query_events(EventQuery(A)).items) == [2, 3]
    assert store.delete_chat(A).events == 2
    assert store.query_events(EventQuery(A)).items == []
    assert ids(store.query_events(EventQuery(B)).items) == [4]


def test_event_envelopes_are_replaced_by_compare_and_set_and_counted_by_key_version(
    store: MessageStore,
) -> None:
    first, second = event(A, 1, 100), event(A, 2, 101)
    put(store, first)
    put(store, second)
    put(store, event(B, 3, 100))
    assert store.count_events(A, {1, 2}) == {1: 2}
    new = os.urandom(40)
    reseals = [
        EventReseal(first.sort_key, first.envelope, new, 2),
        EventReseal(second.sort_key, b"not what it holds", os.urandom(40), 2),
        EventReseal("00000000999.00000000000000000999", b"gone", os.urandom(40), 2),
    ]
    assert store.replace_event_envelopes(A, reseals) == 1
    assert store.count_events(A, {1, 2}) == {1: 1, 2: 1}
    assert store.count_events(B, {1, 2}) == {1: 1}
    assert store.count_events(A, set()) == {}
    stored = {e.event_id: e for e in store.iter_events(A)}
    assert (stored[1].envelope, stored[1].key_version) == (new, 2)
    assert stored[2] == second
    assert store.replace_event_envelopes(A, reseals[:1]) == 0  # done already: nothing changes
