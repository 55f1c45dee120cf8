"""The message-store contract, run unchanged against every store backend."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from crypto.chatkeys import ACTIVE, DESTROYED, SUPERSEDED, ChatKeyRecord
from messages import sortkey
from messages.stores.base import MessageStore
from messages.stores.orm import ORMStore
from messages.stores.records import (
    ChatSnapshot,
    DeleteResult,
    InactiveChatKey,
    MessageQuery,
    PutOutcome,
    Reseal,
    SealedMessage,
)
from tests.conftest import FIRESTORE_LEASE

BACKENDS = ["orm", "firestore"]
A, B, C = -1001000000000001, -1001000000000002, 4_000_000_001  # two groups and a private chat


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, db: None) -> MessageStore:
    if request.param == "firestore":
        from messages.stores.firestore import FirestoreStore

        project = request.getfixturevalue("firestore_project")
        return FirestoreStore(project=project, **FIRESTORE_LEASE)
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
    changed: bool = True,
) -> SealedMessage:
    return SealedMessage(
        chat=ChatSnapshot(chat_id=chat_id, type="supergroup", sealed_title=title, changed=changed),
        message_id=message_id,
        date=date,
        edit_date=edit_date,
        kind=kind,
        envelope=os.urandom(40),
        key_version=1,
        sort_key=sortkey.sort_key(date, chat_id, message_id),
        thread_id=thread,
        sender_id=sender,
    )


def put(store: MessageStore, message: SealedMessage) -> PutOutcome:
    """put_message, with the chat's key version 1 stored first as archive() would have."""
    store.add_chat_key(key_record(message.chat_id, message.key_version, b"wrapped"))
    return store.put_message(message)


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
    assert put(store, message) is PutOutcome.CREATED
    assert put(store, message) is PutOutcome.DUPLICATE
    assert put(store, sealed(A, 1, 100)) is PutOutcome.DUPLICATE
    history = store.get_message(A, 1)
    assert history is not None
    assert len(history.revisions) == 1
    assert history.head.envelope == message.envelope


def test_the_head_is_the_latest_edit_in_any_arrival_order(store: MessageStore) -> None:
    revisions = [
        sealed(A, 1, 100, edit_date=e, kind=k)
        for e, k in ((300, "photo"), (0, "text"), (200, "video"))
    ]
    outcomes = [put(store, r) for r in revisions]
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
    put(store, sealed(A, 1, 100))
    assert store.get_message(A, 2) is None
    assert store.get_message(B, 1) is None


def test_get_messages_fetches_a_batch_and_skips_unknown_ids(store: MessageStore) -> None:
    for chat, message in ((A, 1), (A, 2), (B, 1)):
        put(store, sealed(chat, message, 100 + message))
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
        put(store, message)
    put(store, sealed(A, 1, 1000, edit_date=2000, kind="photo"))
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
    put(store, sealed(A, 2, 200, title=b"new"))
    put(store, sealed(A, 1, 100, title=b"old"))
    chat = store.get_chat(A)
    assert chat is not None
    assert chat.sealed_title == b"new"


def test_link_chats_records_a_migration_both_ways(store: MessageStore) -> None:
    put(store, sealed(-4012345678, 1, 100))
    put(store, sealed(A, 1, 200))
    store.link_chats(-4012345678, A)
    old, new = store.get_chat(-4012345678), store.get_chat(A)
    assert old is not None
    assert new is not None
    assert old.migrated_to_chat_id == A
    assert new.migrated_from_chat_id == -4012345678


def key_record(
    chat_id: int, version: int, wrapped: bytes, state: str = ACTIVE, kek: str = "1"
) -> ChatKeyRecord:
    # Whole seconds: Firestore keeps microseconds, but the comparison should not depend on it.
    return ChatKeyRecord(
        chat_id, version, wrapped, kek, state, datetime.now(UTC).replace(microsecond=0)
    )


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


def test_messages_before_a_date_are_deleted_with_their_revisions(store: MessageStore) -> None:
    """Retention: old messages of one chat go, edits and all; newer ones and other chats stay,
    and the chat's entry stays."""
    for n in range(1, 41):
        put(store, sealed(A, n, 1_000 + n, changed=n == 1))
    put(store, sealed(A, 3, 1_003, edit_date=5_000, changed=False))  # an old message's edit
    put(store, sealed(B, 1, 500))
    assert store.count_messages_before(A, 1_031) == 30
    result = store.delete_messages_before(A, 1_031)
    assert (result.messages, result.revisions) == (30, 31)
    assert store.get_message(A, 3) is None
    assert store.get_message(A, 30) is None
    assert store.get_message(A, 31) is not None
    assert store.count_messages_before(A, 1_031) == 0
    assert store.count_revisions(A) == {(A, 1): 10}
    assert store.get_message(B, 1) is not None  # older, but another chat
    chat = store.get_chat(A)
    assert chat is not None
    assert chat.message_count == 10
    assert store.delete_messages_before(A, 1_031) == DeleteResult()  # again: nothing left


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
        put(store, message)
    put(store, sealed(C, 1, 5001))  # not asked for
    for descending in (True, False):
        seen = walk(store, MessageQuery(chats=chats, descending=descending, limit=4))
        assert seen == in_order(messages, descending=descending)


# -- key lifecycle --------------------------------------------------------------------------


def rotate(store: MessageStore, chat_id: int) -> list:
    """Supersedes the chat's active key version with a new one, as rotate_chat_keys does."""
    current = store.get_chat_keys(chat_id)
    active = next(k for k in current if k.state == ACTIVE)
    changed = [
        replace(active, state=SUPERSEDED),
        key_record(chat_id, active.version + 1, f"v{active.version + 1}".encode()),
    ]
    assert store.change_chat_keys(chat_id, current, changed)
    return store.get_chat_keys(chat_id)


def test_a_put_under_a_key_version_that_is_not_active_is_refused(store: MessageStore) -> None:
    with pytest.raises(InactiveChatKey):
        store.put_message(sealed(A, 1, 100))  # no key at all
    store.add_chat_key(key_record(A, 1, b"v1"))
    assert store.put_message(sealed(A, 1, 100)) is PutOutcome.CREATED
    rotate(store, A)
    # Refused once the store's window for writes already under way has passed (0 on SQL).
    time.sleep(store.late_write_window)
    stale = replace(sealed(A, 2, 200, changed=False), key_version=1)
    with pytest.raises(InactiveChatKey):
        store.put_message(stale)
    assert store.get_message(A, 2) is None
    chat = store.get_chat(A)
    assert chat is not None
    assert chat.message_count == 1
    # A replay of what was stored before the rotation is still a duplicate, not an error.
    assert store.put_message(sealed(A, 1, 100)) is PutOutcome.DUPLICATE
    assert store.put_message(replace(stale, key_version=2)) is PutOutcome.CREATED


def test_puts_that_leave_the_chat_entry_alone_are_exactly_once(store: MessageStore) -> None:
    """The common case, which Firestore writes in one commit without reading anything."""
    assert put(store, sealed(A, 1, 100)) is PutOutcome.CREATED  # the chat's first: changed
    for n in range(2, 11):
        assert put(store, sealed(A, n, 100 + n, changed=False)) is PutOutcome.CREATED
    assert put(store, sealed(A, 5, 105, changed=False)) is PutOutcome.DUPLICATE
    # An edit that overtook its original: the original adds a revision, the head stays.
    edit = sealed(A, 20, 300, edit_date=400, changed=False)
    assert put(store, edit) is PutOutcome.CREATED
    assert put(store, sealed(A, 20, 300, changed=False)) is PutOutcome.REVISED
    assert put(store, sealed(A, 20, 300, changed=False)) is PutOutcome.DUPLICATE
    history = store.get_message(A, 20)
    assert history is not None
    assert (history.head.edit_date, history.head.version_count) == (400, 2)
    assert history.head.envelope == edit.envelope
    assert [r.edit_date for r in history.revisions] == [0, 400]
    chat = store.get_chat(A)
    assert chat is not None
    assert chat.message_count == 11
    assert sum(store.count_revisions(A).values()) == 12


def test_change_chat_keys_is_compare_and_set(store: MessageStore) -> None:
    store.add_chat_key(key_record(A, 1, b"v1"))
    before = store.get_chat_keys(A)
    stale = [replace(before[0], wrapped=b"someone else's")]
    assert not store.change_chat_keys(A, stale, [replace(before[0], state=DESTROYED)])
    assert store.get_chat_keys(A) == before
    after = rotate(store, A)
    assert [(k.version, k.state, k.wrapped) for k in after] == [
        (1, SUPERSEDED, b"v1"),
        (2, ACTIVE, b"v2"),
    ]
    # The first rotation's expectation no longer holds: a second run changes nothing.
    assert not store.change_chat_keys(A, before, [replace(before[0], state=DESTROYED)])
    erased = [k.erased(DESTROYED) for k in after]
    assert store.change_chat_keys(A, after, erased)
    shredded = store.get_chat_keys(A)
    assert [(k.state, k.wrapped) for k in shredded] == [(DESTROYED, b"")] * 2
    assert all(k.changed_at is not None for k in shredded)


def test_chat_keys_of_many_chats_in_one_batch_and_all_of_them_in_order(
    store: MessageStore,
) -> None:
    chats = [-1003000000000000 - n for n in range(35)]  # more than one Firestore "in" takes
    for chat_id in chats:
        store.add_chat_key(key_record(chat_id, 1, b"one", kek="7"))
    rotate(store, chats[0])
    found = store.get_chat_keys_many([*chats, C])
    assert set(found) == set(chats)
    assert [k.version for k in found[chats[0]]] == [1, 2]
    assert store.get_chat_keys_many([]) == {}
    every = [(k.chat_id, k.version) for k in store.iter_chat_keys()]
    assert every == sorted((c, v) for c in chats for v in ([1, 2] if c == chats[0] else [1]))


def test_revisions_page_in_position_order_and_filter_by_key_version(
    store: MessageStore,
) -> None:
    for message_id in (1, 2, 3):
        for edit_date in (0, 10, 20):
            put(store, sealed(A, message_id, 100, edit_date=edit_date))
    put(store, sealed(B, 1, 100))
    rotate(store, A)
    put(store, replace(sealed(A, 4, 100), key_version=2))
    every = list(store.iter_revisions(A, batch_size=2))
    assert [r.position for r in every] == [(m, e) for m in (1, 2, 3) for e in (0, 10, 20)] + [
        (4, 0)
    ]
    assert [r.position for r in store.revisions(A, after=(2, 10), limit=2)] == [(2, 20), (3, 0)]
    assert [r.position for r in store.iter_revisions(A, key_version=2)] == [(4, 0)]
    assert len(list(store.iter_revisions(A, key_version=1, batch_size=4))) == 9
    assert store.count_revisions(A) == {(A, 1): 9, (A, 2): 1}
    assert store.count_revisions() == {(A, 1): 9, (A, 2): 1, (B, 1): 1}


def test_replace_envelopes_touches_a_head_only_while_it_holds_the_old_envelope(
    store: MessageStore,
) -> None:
    original, edit = sealed(A, 1, 100), sealed(A, 1, 100, edit_date=50)
    put(store, original)
    put(store, edit)
    rotate(store, A)
    reseals = [
        Reseal(1, 0, original.envelope, b"new original", 2),
        Reseal(1, 50, edit.envelope, b"new edit", 2),
        Reseal(1, 99, b"no such revision", b"x", 2),
    ]
    assert store.replace_envelopes(A, reseals) == 2
    history = store.get_message(A, 1)
    assert history is not None
    assert [r.envelope for r in history.revisions] == [b"new original", b"new edit"]
    assert (history.head.envelope, history.head.key_version) == (b"new edit", 2)
    # Replaying the batch finds nothing holding the old envelopes any more.
    assert store.replace_envelopes(A, reseals) == 0
    assert store.count_revisions(A) == {(A, 2): 2}


def test_replace_chat_title_is_compare_and_set(store: MessageStore) -> None:
    put(store, sealed(A, 1, 100, title=b"sealed title"))
    assert not store.replace_chat_title(A, b"not the title", b"new")
    assert store.replace_chat_title(A, b"sealed title", b"new")
    chat = store.get_chat(A)
    assert chat is not None
    assert chat.sealed_title == b"new"


def test_delete_chat_keeps_the_keys_for_the_shred_record(store: MessageStore) -> None:
    put(store, sealed(A, 1, 100))
    store.delete_chat(A)
    assert [k.version for k in store.get_chat_keys(A)] == [1]
    assert store.count_revisions(A) == {}


# -- each version's envelope is stored once (issue 32) --------------------------------------------


def message_records(store: MessageStore) -> int:
    """How many message records (heads and revision records) the store holds: rows on the
    ORM, documents on Firestore (what its writes and stored bytes are billed by)."""
    from messages.models import Message, MessageRevision

    if isinstance(store, ORMStore):
        return Message.objects.count() + MessageRevision.objects.count()
    collections = (store.messages, store.revision_docs)  # type: ignore[attr-defined]
    return sum(len(list(c.select([]).stream())) for c in collections)


def test_a_new_message_is_one_record_and_each_edit_one_more(store: MessageStore) -> None:
    first, second = sealed(A, 1, 100), sealed(A, 2, 100)
    assert put(store, first) is PutOutcome.CREATED
    assert put(store, second) is PutOutcome.CREATED  # Firestore: the leased batch path
    assert message_records(store) == 2
    assert put(store, first) is PutOutcome.DUPLICATE
    edit = sealed(A, 1, 100, edit_date=300)
    assert put(store, edit) is PutOutcome.REVISED
    assert message_records(store) == 3
    late = sealed(A, 1, 100, edit_date=200)  # an older edit delivered after a newer one
    assert put(store, late) is PutOutcome.REVISED
    assert put(store, late) is PutOutcome.DUPLICATE
    assert put(store, edit) is PutOutcome.DUPLICATE
    assert message_records(store) == 4
    history = store.get_message(A, 1)
    assert history is not None
    assert [(r.version, r.edit_date, r.envelope) for r in history.revisions] == [
        (1, 0, first.envelope),
        (2, 200, late.envelope),
        (3, 300, edit.envelope),
    ]
    assert (history.head.envelope, history.head.version_count) == (edit.envelope, 3)
    assert [r.position for r in store.iter_revisions(A)] == [(1, 0), (1, 200), (1, 300), (2, 0)]
    assert store.count_revisions(A) == {(A, 1): 4}


def test_an_edit_that_comes_before_its_original_still_stores_each_version_once(
    store: MessageStore,
) -> None:
    original, edit = sealed(A, 1, 100), sealed(A, 1, 100, edit_date=50)
    assert put(store, edit) is PutOutcome.CREATED
    assert put(store, original) is PutOutcome.REVISED
    assert message_records(store) == 2
    history = store.get_message(A, 1)
    assert history is not None
    assert [r.envelope for r in history.revisions] == [original.envelope, edit.envelope]
    assert history.head.envelope == edit.envelope


def store_twice_behind_the_back(store: MessageStore, chat_id: int) -> int:
    """Gives every head a revision record of its own version, as an archive written before
    each version's envelope was stored once holds; returns how many."""
    heads = list(store.iter_heads(chat_id))
    for head in heads:
        fields = {
            "chat_id": head.chat_id,
            "message_id": head.message_id,
            "edit_date": head.edit_date,
            "key_version": head.key_version,
            "envelope": head.envelope,
        }
        if isinstance(store, ORMStore):
            from messages.models import MessageRevision

            MessageRevision.objects.create(**fields)
        else:
            name = f"{head.chat_id}:{head.message_id}:{head.edit_date}"
            store.revision_docs.document(name).set(fields)  # type: ignore[attr-defined]
    return len(heads)


def test_an_archive_stored_twice_reads_the_same_and_compacts_in_resumable_batches(
    store: MessageStore,
) -> None:
    for message_id in range(1, 8):
        put(store, sealed(A, message_id, 100))
    edit = sealed(A, 3, 100, edit_date=40)
    put(store, edit)
    put(store, sealed(B, 1, 100))
    before = (
        [r.position for r in store.iter_revisions(A, batch_size=3)],
        store.count_revisions(),
        store.get_message(A, 3),
    )
    assert store_twice_behind_the_back(store, A) == 7
    assert message_records(store) == 9 + 7
    after = (
        [r.position for r in store.iter_revisions(A, batch_size=3)],
        store.count_revisions(),
        store.get_message(A, 3),
    )
    assert after == before  # the duplicates are read as the heads' versions, once
    dry = store.compact_envelopes(A, limit=4, dry_run=True)
    assert (dry.scanned, dry.removed) == (4, 3)  # (3, 0) is a superseded version: kept
    assert message_records(store) == 16
    removed, last = 0, None
    while True:
        batch = store.compact_envelopes(A, after=last, limit=4)
        if batch.scanned == 0:
            break
        removed, last = removed + batch.removed, batch.last
    assert removed == 7
    assert message_records(store) == 9
    assert store.compact_envelopes(A).removed == 0  # run again: nothing left
    assert [r.position for r in store.iter_revisions(A, batch_size=3)] == before[0]
    assert store.get_message(A, 3) == before[2]


def test_an_edit_and_a_reseal_of_an_archive_stored_twice_keep_every_version(
    store: MessageStore,
) -> None:
    original = sealed(A, 1, 100)
    put(store, original)
    store_twice_behind_the_back(store, A)
    edit = sealed(A, 1, 100, edit_date=60)
    assert put(store, edit) is PutOutcome.REVISED
    rotate(store, A)
    reseals = [Reseal(1, 0, original.envelope, b"new original", 2)]
    assert store.replace_envelopes(A, reseals) == 1
    history = store.get_message(A, 1)
    assert history is not None
    assert [r.envelope for r in history.revisions] == [b"new original", edit.envelope]
    assert store.count_revisions(A) == {(A, 2): 1, (A, 1): 1}
    assert store.compact_envelopes(A).removed == 0  # the edit's move took its place
