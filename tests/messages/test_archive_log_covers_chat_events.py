"""Chat events (reactions, membership) are sealed records of the archive log too: each one
queues its event leaf in its own commit, ``verify_archive --log`` accounts for every event
(added, rewritten or deleted behind the archive's back is named), a re-sealed event gets a
leaf of its own, a shred's tombstone covers its events, ``build_log`` logs the events of an
existing archive, and an export with proofs still verifies offline. ORM and Firestore."""

from __future__ import annotations

import dataclasses
import os
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from crypto import logleaf
from messages.models import ChatEvent
from messages.stores import get_store
from messages.stores.firestore import FirestoreStore
from messages.stores.records import EventReseal
from messages.transparency.actions import do_checkpoint, do_verify_log
from tests.conftest import Webhook
from tests.messages.keys.test_rotation_reseals_chat_events import (
    backends,  # noqa: F401 - a fixture
    chat,
)
from tests.messages.test_archive_log import _export, _verify_offline

CHAT = -1001234567890123
MEMBER = (CHAT, "chat_member", 512340038, 1786536120)  # chat_member.json's event
# A message, then one event of each kind, on every backend (the rotation tests' archive).
archived = chat


def delete_event(chat_id: int, event_id: int, date: int) -> None:
    """Behind the archive's back: straight at the database or Firestore."""
    store = get_store()
    if isinstance(store, FirestoreStore):
        store.event_docs.document(f"{chat_id}:{date:011d}.{event_id:020d}").delete()
    else:
        ChatEvent.objects.filter(chat_id=chat_id, event_id=event_id).delete()


def name(identity: tuple[int, str, int, int]) -> str:
    chat, kind, event_id, date = identity
    return f"chat {chat} event {event_id} ({kind}, date {date})"


def test_each_event_queues_one_event_leaf_and_a_redelivery_none(
    archived: None, webhook: Webhook
) -> None:
    pending = get_store().pending_leaves(100)
    assert len(pending) == 5  # the message and the four events
    kinds = sorted(logleaf.parse(p.leaf)["type"] for p in pending)
    assert kinds == ["event"] * 4 + ["record"]
    webhook.post_fixture("chat_member")
    assert len(get_store().pending_leaves(100)) == 5
    do_checkpoint()
    report = do_verify_log()
    assert report.problems == [], report.problems
    assert report.counts["events"] == 4


def test_events_added_rewritten_or_deleted_behind_the_back_are_named(archived: None) -> None:
    do_checkpoint()
    store = get_store()
    [member] = store.iter_events(CHAT, kinds=("chat_member",))
    [count] = store.iter_events(CHAT, kinds=("message_reaction_count",))
    added = dataclasses.replace(member, event_id=999, envelope=os.urandom(60))
    store.put_event(added)  # no leaf: as if written by something else than the archive
    store.replace_event_envelopes(
        CHAT, [EventReseal(count.sort_key, count.envelope, os.urandom(60), 1)]
    )
    delete_event(CHAT, member.event_id, member.date)
    problems = do_verify_log().problems
    assert f"{name(MEMBER)}: missing (deleted without a tombstone)" in problems
    assert f"{name((CHAT, 'chat_member', 999, member.date))}: added (it has no leaf)" in problems
    rewritten = (CHAT, "message_reaction_count", count.event_id, count.date)
    assert f"{name(rewritten)}: rewritten (its envelope is not the one logged)" in problems
    assert len(problems) == 3


def test_rotation_logs_resealed_events_and_a_shred_tombstones_them(archived: None) -> None:
    for command, *args in (
        ("rotate_chat_keys", "--chat", str(CHAT)),
        ("reencrypt_messages", "--chat", str(CHAT)),
    ):
        call_command(command, *args, stdout=StringIO(), stderr=StringIO())
    do_checkpoint()
    report = do_verify_log()
    assert report.problems == [], report.problems
    assert report.counts["leaves"] == 10  # five records, each sealed twice
    call_command("shred_chat", str(CHAT), "--yes", stdout=StringIO(), stderr=StringIO())
    report = do_verify_log()
    assert report.problems == [], report.problems
    assert report.counts["events deleted under a tombstone"] == 4


def test_build_log_logs_the_events_of_an_existing_archive(archived: None) -> None:
    store = get_store()
    store.drop_pending_leaves([p.key for p in store.pending_leaves(100)])  # an older archive
    assert sum("no leaf" in p for p in do_verify_log().problems) == 5
    out = StringIO()
    call_command("build_log", stdout=out)
    assert "1 revisions, 4 chat events: 5 leaves appended" in out.getvalue()
    do_checkpoint()
    assert do_verify_log().problems == []


def test_an_export_with_proofs_verifies_with_event_leaves_in_the_log(
    archived: None, tmp_path: Path
) -> None:
    export = _export(tmp_path)
    key = StringIO()
    call_command("checkpoint", "--public-key", stdout=key)
    result = _verify_offline(export, key.getvalue().strip(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 verified, 0 not verified" in result.stdout
