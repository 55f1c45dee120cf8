"""Firestore writes a new message in one commit, with no read, while it holds a lease on the
message's chat-key version; key changes wait out the window in which such writes can land.

Runs on the Firestore emulator; the RPCs are counted on the real client's API object."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from crypto.chatkeys import DESTROYED, ChatKeys
from crypto.envelope import message_identity, seal
from crypto.keyrings.local import LocalKeyring
from groupie.progress import Progress
from messages.keys.operations import Lifecycle
from messages.stores.firestore import FirestoreStore
from messages.stores.records import InactiveChatKey, PendingLeaf, PutOutcome, SealedMessage
from tests.messages.stores.test_store_contract import key_record, rotate, sealed

CHAT = -1001000000000123
RPCS = ("begin_transaction", "batch_get_documents", "commit", "rollback", "run_query")


@pytest.fixture
def store(firestore_project: str) -> FirestoreStore:
    return FirestoreStore(project=firestore_project, key_lease=2.0, write_timeout=2.0)


def count_rpcs(store: FirestoreStore, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the calls the client makes on its Firestore API, passing each one through."""
    calls: Counter[str] = Counter()
    api = store.client._firestore_api

    def spy(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return method(*args, **kwargs)

        return call

    for name in RPCS:
        monkeypatch.setattr(api, name, spy(name, getattr(api, name)))
    return calls


def quiet(chat_id: int, message_id: int, **kwargs: Any) -> SealedMessage:
    """A message that leaves its chat's directory entry alone: the common case."""
    return sealed(chat_id, message_id, 1_700_000_000 + message_id, changed=False, **kwargs)


def test_a_new_message_is_one_commit_and_no_read(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_chat_key(key_record(CHAT, 1, b"v1"))
    calls = count_rpcs(store, monkeypatch)
    assert store.put_message(sealed(CHAT, 1, 1_700_000_001)) is PutOutcome.CREATED
    # Without a lease: a transaction that reads the key (and the chat, being new).
    assert calls["begin_transaction"] == 1
    assert calls["batch_get_documents"] == 1
    calls.clear()
    for message_id in range(2, 22):
        assert store.put_message(quiet(CHAT, message_id)) is PutOutcome.CREATED
    assert calls == Counter(commit=20)
    calls.clear()
    # A replay fails its commit on the head's create precondition; then the full path, a
    # transaction, says DUPLICATE and writes nothing.
    assert store.put_message(quiet(CHAT, 7)) is PutOutcome.DUPLICATE
    assert calls["begin_transaction"] == 1
    history = store.get_message(CHAT, 7)
    assert history is not None
    assert len(history.revisions) == 1
    chat = store.get_chat(CHAT)
    assert chat is not None
    assert chat.message_count == 21


def test_a_lease_lets_writes_land_briefly_after_a_rotation_then_the_key_is_read_again(
    store: FirestoreStore,
) -> None:
    store.add_chat_key(key_record(CHAT, 1, b"v1"))
    assert store.put_message(sealed(CHAT, 1, 1_700_000_001)) is PutOutcome.CREATED
    rotate(store, CHAT)
    # Within the lease, a process that has not seen the rotation still writes under v1:
    # superseded, so it still opens, and re-encryption waits for such writes before it counts.
    assert store.put_message(quiet(CHAT, 2)) is PutOutcome.CREATED
    time.sleep(store.key_lease)
    with pytest.raises(InactiveChatKey):
        store.put_message(quiet(CHAT, 3))
    assert store.get_message(CHAT, 3) is None
    assert store.put_message(replace(quiet(CHAT, 3), key_version=2)) is PutOutcome.CREATED
    assert store.count_revisions(CHAT) == {(CHAT, 1): 2, (CHAT, 2): 1}


def lifecycle(store: FirestoreStore, tmp_path: Path, stream: StringIO) -> Lifecycle:
    keyring = LocalKeyring(path=str(tmp_path / "keyring.json"))
    keyring.create()
    return Lifecycle(store=store, chat_keys=ChatKeys(store, keyring), progress=Progress(stream))


def write_until_refused(
    store: FirestoreStore, make: Callable[[int], SealedMessage], stored: list[int], stop: Any
) -> None:
    """A server that holds a lease on the chat's key version 1 and archives a message every
    50 ms until the store refuses it: steady, so much of the lease is left after the key
    change."""
    message_id = 100
    while not stop.wait(0.05):
        message_id += 1
        try:
            store.put_message(make(message_id))
        except InactiveChatKey:
            return
        stored.append(message_id)


def writing(store: FirestoreStore, make: Callable[[int], SealedMessage]) -> Any:
    """Starts write_until_refused in a thread, once it has stored its first message."""
    stored: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=write_until_refused, args=(store, make, stored, stop))
    thread.start()
    while not stored and thread.is_alive():
        time.sleep(0.01)
    return thread, stop, stored


def finish(thread: threading.Thread, stop: threading.Event) -> None:
    """Lets the writer run on until the store refuses it (its lease ran out)."""
    thread.join(timeout=30)
    stop.set()
    assert not thread.is_alive()


@pytest.mark.django_db  # media records live in Django's database, beside the audit log
def test_a_shred_deletes_what_leased_writers_store_while_it_runs(
    store: FirestoreStore, tmp_path: Path
) -> None:
    store.add_chat_key(key_record(CHAT, 1, b"v1"))
    assert store.put_message(sealed(CHAT, 1, 1_700_000_001)) is PutOutcome.CREATED
    notes = StringIO()
    writer, stop, stored = writing(store, lambda n: quiet(CHAT, n))
    try:
        report = lifecycle(store, tmp_path, notes).shred_chat(CHAT, dry_run=False)
    finally:
        finish(writer, stop)
    assert report.counts["key versions destroyed"] == 1
    # Writes under the destroyed key kept landing while the lease lasted; the shred waited
    # them out before deleting, so none of them survived it.
    assert report.counts["messages deleted"] == 1 + len(stored)
    assert store.get_chat(CHAT) is None
    assert store.count_revisions(CHAT) == {}
    assert [k.state for k in store.get_chat_keys(CHAT)] == [DESTROYED]
    assert "waiting" in notes.getvalue()  # and said so


@pytest.mark.django_db
def test_re_encryption_waits_for_writes_under_the_superseded_version(
    store: FirestoreStore, tmp_path: Path
) -> None:
    operations = lifecycle(store, tmp_path, StringIO())
    version, key = operations.chat_keys.active_key(CHAT)

    def sealed_under_v1(message_id: int) -> SealedMessage:
        identity = message_identity(CHAT, message_id, 0)
        envelope = seal(key, version, identity, f"message {message_id}".encode())
        return replace(quiet(CHAT, message_id), envelope=envelope, key_version=version)

    assert store.put_message(replace(sealed_under_v1(1), chat=sealed(CHAT, 1, 1).chat))
    operations.rotate_chat_keys(chat_id=CHAT, cutoff=datetime.now(UTC), dry_run=False)
    writer, stop, stored = writing(store, sealed_under_v1)
    try:
        report = operations.reencrypt_messages(chat_id=CHAT, dry_run=False)
    finally:
        finish(writer, stop)
    assert not report.failed
    # Everything written under v1, the late writes included, was re-sealed before v1 retired.
    assert report.counts["revisions re-sealed"] == 1 + len(stored)
    assert report.counts["key versions retired"] == 1
    assert store.count_revisions(CHAT) == {(CHAT, 2): 1 + len(stored)}


def count_written_documents(store: FirestoreStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents each commit writes, in order (their paths), passing each commit through."""
    written: list[str] = []
    api = store.client._firestore_api
    commit = api.commit

    def spy(*args: Any, request: Any, **kwargs: Any) -> Any:
        for write in request["writes"]:
            written.append((write.update.name or write.delete).rsplit("/documents/", 1)[1])
        return commit(*args, request=request, **kwargs)

    monkeypatch.setattr(api, "commit", spy)
    return written


def logged(message: SealedMessage) -> SealedMessage:
    """The message with an archive-log leaf, as archive() seals it."""
    return replace(message, leaf=b'{"type":"record","m":%d}' % message.edit_date)


def test_a_new_message_with_its_log_leaf_writes_one_document_and_an_edit_one_more(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_chat_key(key_record(CHAT, 1, b"v1"))
    assert store.put_message(logged(sealed(CHAT, 1, 1_700_000_001))) is PutOutcome.CREATED
    written = count_written_documents(store, monkeypatch)
    for message_id in range(2, 12):
        assert store.put_message(logged(quiet(CHAT, message_id))) is PutOutcome.CREATED
    assert written == [f"messages/{CHAT}:{m}" for m in range(2, 12)]  # the leaf rides inside
    written.clear()
    assert store.put_message(logged(quiet(CHAT, 2, edit_date=1_800_000_000))) is PutOutcome.REVISED
    assert sorted(written) == [f"messages/{CHAT}:2", f"revisions/{CHAT}:2:0"]
    pending = store.pending_leaves(100)
    assert len(pending) == 12  # 11 originals and the edit, oldest first
    assert [p.created for p in pending] == sorted(p.created for p in pending)
    assert sum(":2:" in p.key for p in pending) == 2  # message 2's head holds both its leaves


def test_the_sequencer_drops_what_it_read_and_keeps_a_leaf_an_edit_adds_meanwhile(
    store: FirestoreStore,
) -> None:
    store.add_chat_key(key_record(CHAT, 1, b"v1"))
    for message_id in (1, 2, 3):
        store.put_message(logged(quiet(CHAT, message_id)))
    store.add_pending_leaves([PendingLeaf("e:1:2:3:ab", b"{}", 1)])  # one of pending_leaves/
    read = store.pending_leaves(100)
    assert read[0].key == "e:1:2:3:ab"  # the oldest, from either place
    # An edit of message 2 lands between the sequencer's read and its drop.
    store.put_message(logged(quiet(CHAT, 2, edit_date=1_800_000_000)))
    store.drop_pending_leaves([p.key for p in read])
    left = store.pending_leaves(100)
    assert [(p.key.split(":")[2:4]) for p in left] == [["2", "1800000000"]]
    store.drop_pending_leaves([p.key for p in left])
    assert store.pending_leaves(100) == []
    assert store.leaf_docs.get() == []
    heads = [s.to_dict() for s in store.messages.stream()]
    assert [(h["log_pending"], h["log_pending_since"]) for h in heads] == [({}, 0)] * 3
