"""The message-store contract, run unchanged against every store backend."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from crypto.chatkeys import ACTIVE, ChatKeyRecord
from messages import sortkey
from messages.stores.base import (
    ChatSnapshot,
    MessageQuery,
    MessageStore,
    PutOutcome,
    SealedMessage,
)
from messages.stores.orm import ORMStore

BACKENDS = ["orm", "firestore"]
A, B, C = -1001000000000001, -1001000000000002, 4_000_000_001  # two groups and a private chat


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, db: None) -> MessageStore:
    if request.param == "firestore":
        from messages.stores.firestore import FirestoreStore

        return FirestoreStore(project=request.getfixturevalue("firestore_project"))
    return ORMStore()


def sealed(
    chat_id: int,
    message_id: int,
    date: int,
    *,
    edit_date: int = 0,
    sender: int | None = 7,
    thread: int | None = None,
    kind: str = "text",
    title: bytes | None = None,
) -> SealedMessage:
    return SealedMessage(
        chat=ChatSnapshot(chat_id=chat_id, type="supergroup", sealed_title=title),
        message_id=message_id,
        date=date,
        edit_date=edit_date,
        kind=kind,
        envelope=os.urandom(40),
        sort_key=sortkey.sort_key(date, chat_id, message_id),
        thread_id=thread,
        sender_id=sender,
    )


def walk(store: MessageStore, query: MessageQuery) -> list[tuple[int, int]]:
    seen, after = [], None
    while True:
        page = store.query(MessageQuery(**{**query.__dict__, "after": after}))
        seen += [(m.chat_id, m.message_id) for m in page.items]
        if not page.has_more:
            return seen
        assert len(page.items) == query.limit
        after = page.items[-1].sort_key


def test_a_put_is_idempotent(store: MessageStore) -> None:
    message = sealed(A, 1, 100)
    assert store.put_message(message) is PutOutcome.CREATED
    assert store.put_message(message) is PutOutcome.DUPLICATE
    assert store.put_message(sealed(A, 1, 100)) is PutOutcome.DUPLICATE
    history = store.get_message(A, 1)
    assert history is not None
    assert len(history.revisions) == 1
    assert history.head.envelope == message.envelope


def test_the_head_is_the_latest_edit_in_any_arrival_order(store: MessageStore) -> None:
    revisions = [
        sealed(A, 1, 100, edit_date=e, kind=k)
        for e, k in ((300, "photo"), (0, "text"), (200, "video"))
    ]
    outcomes = [store.put_message(r) for r in revisions]
    assert outcomes == [PutOutcome.CREATED, PutOutcome.REVISED, PutOutcome.REVISED]
    history = store.get_message(A, 1)
    assert history is not None
    assert history.head.edit_date == 300
    assert history.head.kind == "photo"
    assert history.head.envelope == revisions[0].envelope
    assert history.head.version_count == 3
    assert history.head.edited
    assert [(r.version, r.edit_date) for r in history.revisions] == [(1, 0), (2, 200), (3, 300)]
    assert history.revisions[1].envelope == revisions[2].envelope


def test_get_message_returns_none_for_an_unknown_message(store: MessageStore) -> None:
    store.put_message(sealed(A, 1, 100))
    assert store.get_message(A, 2) is None
    assert store.get_message(B, 1) is None


def test_get_messages_fetches_a_batch_and_skips_unknown_ids(store: MessageStore) -> None:
    for chat, message in ((A, 1), (A, 2), (B, 1)):
        store.put_message(sealed(chat, message, 100 + message))
    found = store.get_messages([(A, 1), (B, 1), (B, 9), (C, 1)])
    assert set(found) == {(A, 1), (B, 1)}
    assert found[(B, 1)].chat_id == B
    assert store.get_messages([]) == {}


@pytest.fixture
def conversation(store: MessageStore) -> list[SealedMessage]:
    """23 messages over three chats, with date ties across chats and negative ids."""
    messages = []
    for n in range(23):
        chat = (A, B, C)[n % 3]
        messages.append(
            sealed(
                chat,
                n + 1,
                1000 + n // 2,
                sender=n % 4,
                thread=n % 2 or None,
                kind="photo" if n % 5 == 0 else "text",
            )
        )
    for message in reversed(messages):
        store.put_message(message)
    store.put_message(sealed(A, 1, 1000, edit_date=2000, kind="photo"))
    return messages


def in_order(messages: list[SealedMessage], *, descending: bool) -> list[tuple[int, int]]:
    ordered = sorted(messages, key=lambda m: (m.date, m.chat_id, m.message_id), reverse=descending)
    return [(m.chat_id, m.message_id) for m in ordered]


@pytest.mark.parametrize("limit", [1, 2, 7, 500])
@pytest.mark.parametrize("descending", [True, False])
def test_walking_every_page_returns_each_message_once_in_date_order(
    store: MessageStore, conversation: list[SealedMessage], limit: int, descending: bool
) -> None:
    seen = walk(store, MessageQuery(descending=descending, limit=limit))
    assert seen == in_order(conversation, descending=descending)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        (MessageQuery(chats=(A,)), lambda m: m.chat_id == A),
        (MessageQuery(chats=(A, C)), lambda m: m.chat_id in (A, C)),
        (MessageQuery(user=2), lambda m: m.sender_id == 2),
        (MessageQuery(chats=(B,), thread=1), lambda m: m.chat_id == B and m.thread_id == 1),
        (MessageQuery(kind="photo"), lambda m: m.kind == "photo"),
        (MessageQuery(edited=True), lambda m: (m.chat_id, m.message_id) == (A, 1)),
        (MessageQuery(edited=False), lambda m: (m.chat_id, m.message_id) != (A, 1)),
        (MessageQuery(since=1003, until=1006), lambda m: 1003 <= m.date <= 1006),
        (MessageQuery(chats=(B,), since=1005), lambda m: m.chat_id == B and m.date >= 1005),
    ],
)
def test_filters_select_exactly_the_matching_messages(
    store: MessageStore, conversation: list[SealedMessage], query: MessageQuery, keep
) -> None:
    for descending in (True, False):
        walked = walk(
            store, MessageQuery(**{**query.__dict__, "descending": descending, "limit": 3})
        )
        expected = in_order([m for m in conversation if keep(m)], descending=descending)
        assert walked == expected
        assert expected


def test_the_chat_directory_counts_messages_not_revisions(
    store: MessageStore, conversation: list[SealedMessage]
) -> None:
    chats = {c.chat_id: c for c in store.list_chats()}
    assert set(chats) == {A, B, C}
    for chat_id, record in chats.items():
        mine = [m for m in conversation if m.chat_id == chat_id]
        assert record.message_count == len(mine)
        assert record.first_date == min(m.date for m in mine)
        assert record.last_date == max(m.date for m in mine)
    assert next(c.chat_id for c in store.list_chats()) in (A, B, C)
    dates = [c.last_date for c in store.list_chats()]
    assert dates == sorted(dates, reverse=True)
    assert store.get_chat(-42) is None


def test_the_newest_message_decides_the_chat_title(store: MessageStore) -> None:
    store.put_message(sealed(A, 2, 200, title=b"new"))
    store.put_message(sealed(A, 1, 100, title=b"old"))
    chat = store.get_chat(A)
    assert chat is not None
    assert chat.sealed_title == b"new"


def test_link_chats_records_a_migration_both_ways(store: MessageStore) -> None:
    store.put_message(sealed(-4012345678, 1, 100))
    store.put_message(sealed(A, 1, 200))
    store.link_chats(-4012345678, A)
    old, new = store.get_chat(-4012345678), store.get_chat(A)
    assert old is not None
    assert new is not None
    assert old.migrated_to_chat_id == A
    assert new.migrated_from_chat_id == -4012345678


def key_record(chat_id: int, version: int, wrapped: bytes) -> ChatKeyRecord:
    return ChatKeyRecord(chat_id, version, wrapped, "1", ACTIVE, datetime.now(UTC))


def test_chat_keys_are_versioned_and_a_conflicting_add_returns_the_first(
    store: MessageStore,
) -> None:
    first = store.add_chat_key(key_record(A, 1, b"first"))
    assert first.wrapped == b"first"
    assert store.add_chat_key(key_record(A, 1, b"second")).wrapped == b"first"
    store.add_chat_key(key_record(A, 2, b"two"))
    store.add_chat_key(key_record(B, 1, b"other chat"))
    assert [(k.version, k.wrapped) for k in store.get_chat_keys(A)] == [(1, b"first"), (2, b"two")]
    assert store.get_chat_keys(C) == []


def test_delete_chat_removes_only_that_chat(
    store: MessageStore, conversation: list[SealedMessage]
) -> None:
    result = store.delete_chat(A)
    assert result.messages == len([m for m in conversation if m.chat_id == A])
    assert result.revisions == result.messages + 1
    assert store.get_chat(A) is None
    assert store.get_message(A, 1) is None
    remaining = walk(store, MessageQuery(limit=100))
    assert remaining == in_order([m for m in conversation if m.chat_id != A], descending=True)


def test_iter_messages_yields_every_message_with_its_revisions(
    store: MessageStore, conversation: list[SealedMessage]
) -> None:
    histories = list(store.iter_messages(batch_size=4))
    assert [(h.head.chat_id, h.head.message_id) for h in histories] == in_order(
        conversation, descending=False
    )
    edited = next(h for h in histories if (h.head.chat_id, h.head.message_id) == (A, 1))
    assert len(edited.revisions) == 2
    only_b = list(store.iter_messages(chat_id=B, batch_size=2))
    assert {h.head.chat_id for h in only_b} == {B}


def test_ping_answers(store: MessageStore) -> None:
    store.ping()


def test_a_filter_on_many_chats_pages_across_all_of_them(store: MessageStore) -> None:
    """More chats than one Firestore "in" filter takes (30): the pages still merge in order."""
    chats = tuple(-1002000000000000 - n for n in range(35))
    messages = [sealed(chat, 1, 5000 + n % 4) for n, chat in enumerate(chats)]
    for message in messages:
        store.put_message(message)
    store.put_message(sealed(C, 1, 5001))  # not asked for
    for descending in (True, False):
        seen = walk(store, MessageQuery(chats=chats, descending=descending, limit=4))
        assert seen == in_order(messages, descending=descending)
