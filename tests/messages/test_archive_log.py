"""The archive log against real tamper, on the ORM (SQLite, or PostgreSQL by DATABASE_URL)
with the local keyring, and on Firestore (emulator) with Cloud KMS (loopback peer, whose
EC_SIGN_ED25519 key signs the checkpoints): rows deleted or edited behind the archive's back,
the log cut short, a forged export, a wrong key, two checkpoints' consistency, and a shredded
chat whose leaves still verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crypto import note, tlog
from messages.models import AuditEntry, LogLeaf, Message, MessageRevision, PendingLeaf
from messages.stores import get_store
from messages.stores.firestore import FirestoreStore
from messages.transparency import checkpoints, log
from messages.transparency.actions import do_checkpoint, do_verify_log
from tests import ROOT
from tests.conftest import Webhook
from tests.factories import ChatFactory, MessageFactory, UpdateFactory, edited

A, B = -1001000000000111, -1001000000000222


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


def archive(webhook: Webhook, chat_id: int, count: int, start: int = 1) -> None:
    chat = ChatFactory(id=chat_id, title="crew")
    for n in range(start, start + count):
        update = UpdateFactory(message=MessageFactory(chat=chat, message_id=n))
        assert webhook.post(update).status_code == 200
        if n == start:
            fix = edited(update, edit_date=1_790_000_000, text="fixed")
            assert webhook.post(fix).status_code == 200


def version_record(chat_id: int, message_id: int, edit_date: int) -> Any:
    """Where a version's envelope is stored: a revision record if the version is superseded,
    else the message's head (each version's envelope is stored once). A Firestore document
    reference, or a model instance."""
    store = get_store()
    if isinstance(store, FirestoreStore):
        ref = store.revision_docs.document(f"{chat_id}:{message_id}:{edit_date}")
        if ref.get().exists:
            return ref
        return store.messages.document(f"{chat_id}:{message_id}")
    revision = MessageRevision.objects.filter(
        chat_id=chat_id, message_id=message_id, edit_date=edit_date
    ).first()
    return revision or Message.objects.get(
        chat_id=chat_id, message_id=message_id, edit_date=edit_date
    )


def delete_revision(chat_id: int, message_id: int, edit_date: int) -> None:
    """Behind the archive's back: straight at the database or Firestore."""
    version_record(chat_id, message_id, edit_date).delete()


def rewrite_revision(chat_id: int, message_id: int, edit_date: int) -> None:
    record = version_record(chat_id, message_id, edit_date)
    if isinstance(get_store(), FirestoreStore):
        envelope = bytes(record.get().to_dict()["envelope"])
        record.update({"envelope": envelope[:-1] + bytes([envelope[-1] ^ 1])})
    else:
        envelope = bytes(record.envelope)
        record.envelope = envelope[:-1] + bytes([envelope[-1] ^ 1])
        record.save()


def add_revision_behind_the_back(chat_id: int, message_id: int) -> None:
    store = get_store()
    fields = {
        "chat_id": chat_id,
        "message_id": message_id,
        "edit_date": 1_795_000_000,
        "key_version": 1,
        "envelope": b"\x01forged",
    }
    if isinstance(store, FirestoreStore):
        store.revision_docs.document(f"{chat_id}:{message_id}:1795000000").set(fields)
    else:
        MessageRevision.objects.create(**fields)


def test_every_revision_queues_one_leaf_in_its_own_commit_and_a_replay_none(
    backends: str, webhook: Webhook
) -> None:
    archive(webhook, A, 3)
    assert len(get_store().pending_leaves(100)) == 4  # 3 originals and an edit
    update = UpdateFactory(message=MessageFactory(chat=ChatFactory(id=A), message_id=2))
    webhook.post(update)  # another delivery of message 2's original revision: a DUPLICATE
    assert len(get_store().pending_leaves(100)) == 4
    result = do_checkpoint()
    assert (result.sequenced, result.checkpoint.size) == (4, 4)
    assert get_store().pending_leaves(100) == []
    assert AuditEntry.objects.filter(action="checkpoint").count() == 1


def test_a_clean_archive_verifies_and_tamper_is_named(backends: str, webhook: Webhook) -> None:
    archive(webhook, A, 4)
    archive(webhook, B, 2)
    do_checkpoint()
    report = do_verify_log()
    assert report.problems == [], report.problems
    assert report.counts["leaves"] == 8

    delete_revision(A, 3, 0)
    rewrite_revision(A, 1, 1_790_000_000)
    add_revision_behind_the_back(B, 2)
    problems = do_verify_log().problems
    missing = f"chat {A} message 3 version 1 (edit_date 0): missing (deleted without a tombstone)"
    assert missing in problems
    assert any(p.startswith(f"chat {A} message 1 version 2") and "rewritten" in p for p in problems)
    assert any(p.startswith(f"chat {B} message 2 version 2") and "added" in p for p in problems)
    assert len(problems) == 3

    err = StringIO()
    with pytest.raises(CommandError, match="3 problems"):
        call_command("verify_archive", "--log", stdout=StringIO(), stderr=err)
    assert f"FAILED chat {A} message 3 version 1" in err.getvalue()


def test_a_log_cut_short_fails_against_the_signed_checkpoint(
    backends: str, webhook: Webhook
) -> None:
    archive(webhook, A, 5)
    do_checkpoint()
    LogLeaf.objects.filter(index__gte=3).delete()
    problems = do_verify_log().problems
    assert "the log is cut short: the checkpoint signed 6 leaves, it holds 3" in problems


def test_two_checkpoints_are_consistent_and_a_rewritten_history_is_not(
    backends: str, webhook: Webhook, tmp_path: Path
) -> None:
    archive(webhook, A, 3)
    first = tmp_path / "first.note"
    call_command("checkpoint", "--output", str(first), stdout=StringIO(), stderr=StringIO())
    archive(webhook, A, 4, start=10)
    do_checkpoint()
    out = StringIO()
    call_command("verify_archive", "--log", "--since", str(first), stdout=out, stderr=StringIO())
    assert "5 leaves since the earlier checkpoint" in out.getvalue()

    # An insider rewrites an early leaf (and its hash) and re-signs: the published, earlier
    # checkpoint shows it.
    row = LogLeaf.objects.get(index=1)
    row.leaf = bytes(row.leaf).replace(b'"date":', b'"date":1')
    row.hash = tlog.leaf_hash(bytes(row.leaf))
    row.save()
    log.LogNode.objects.all().delete()  # type: ignore[attr-defined]
    problems = do_verify_log(first.read_text()).problems
    assert any("not the ones the checkpoint signed" in p for p in problems)


def test_a_shredded_chats_leaves_stay_in_the_log_under_a_tombstone(
    backends: str, webhook: Webhook
) -> None:
    archive(webhook, A, 2)
    archive(webhook, B, 2)
    do_checkpoint()
    call_command("shred_chat", str(B), "--yes", stdout=StringIO(), stderr=StringIO())
    report = do_verify_log()
    assert report.problems == []
    assert report.counts["tombstones"] == 1
    assert report.counts["revisions deleted under a tombstone"] == 3
    # Each of the shredded chat's leaves is still proven by the new checkpoint.
    latest = checkpoints.latest()
    assert latest is not None
    for row in LogLeaf.objects.filter(chat_id=B, message_id__isnull=False):
        proof = log.inclusion_proof(row.index, latest.size)
        tlog.verify_inclusion(bytes(row.hash), row.index, latest.size, proof, bytes(latest.root))


def test_records_deleted_before_any_checkpoint_are_in_the_log_before_their_tombstone(
    backends: str, webhook: Webhook
) -> None:
    # No checkpoint yet: every leaf is pending (on Firestore, inside the heads that go).
    archive(webhook, A, 2)
    archive(webhook, B, 3)
    call_command("shred_chat", str(B), "--yes", stdout=StringIO(), stderr=StringIO())
    call_command("purge_messages", "--chat", str(A), "--older-than", "1", stdout=StringIO())
    do_checkpoint()
    records = LogLeaf.objects.filter(message_id__isnull=False)
    tombstones = LogLeaf.objects.filter(key__startswith="t:")
    # A: 2 messages and an edit; B: 3 messages and an edit; then the two tombstones.
    assert sorted(records.values_list("chat_id", flat=True)) == [B] * 4 + [A] * 3
    assert tombstones.count() == 2
    last_record = max(records.values_list("index", flat=True))
    assert last_record < min(tombstones.values_list("index", flat=True))
    report = do_verify_log()
    assert report.problems == []
    assert report.counts["revisions deleted under a tombstone"] == 7


def _export(tmp_path: Path, name: str = "export.ndjson") -> Path:
    out = tmp_path / name
    call_command("export_messages", "--output", str(out), "--proofs", stdout=StringIO())
    return out


# Isolated mode keeps the project and the environment off the path; the venv still holds
# Django, so importing it (or any app of ours) is made to fail: the verifier must not need it.
AUDITOR = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("django", "messages", "groupie", "webhooks", "rest_framework"):
            raise ImportError("the auditor has no " + name)
sys.meta_path.insert(0, Refuse())
sys.path.insert(0, ".")
from crypto.verify_export import main
sys.exit(main(sys.argv[1:]))
"""


def _verify_offline(export: Path, key: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """As an auditor would: a copy of crypto/ only, in a directory of its own, isolated mode
    (no environment variables, no user site, the project not on the path)."""
    auditor = tmp_path / "auditor"
    if not auditor.exists():
        shutil.copytree(ROOT / "crypto", auditor / "crypto")
    return subprocess.run(
        [sys.executable, "-I", "-c", AUDITOR, str(export), "--key", key],
        cwd=auditor,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_export_with_proofs_verifies_offline_and_a_forgery_does_not(
    backends: str, webhook: Webhook, tmp_path: Path
) -> None:
    archive(webhook, A, 3)
    export = _export(tmp_path)
    key = StringIO()
    call_command("checkpoint", "--public-key", stdout=key)
    vkey = key.getvalue().strip()
    assert vkey.startswith(checkpoints.origin() + "+")
    note.Verifier.parse(vkey)
    result = _verify_offline(export, vkey, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 verified, 0 not verified" in result.stdout

    # A forged export: one message's text (and its raw object) changed.
    lines = export.read_text().splitlines()
    forged = json.loads(lines[2])
    forged["text"] = forged["proof"]["raw"]["text"] = "I never said that"
    lines[2] = json.dumps(forged)
    (tmp_path / "forged.ndjson").write_text("\n".join(lines) + "\n")
    result = _verify_offline(tmp_path / "forged.ndjson", vkey, tmp_path)
    assert result.returncode == 1
    name = f"message {forged['chat_id']}:{forged['message_id']}"
    assert f"NOT VERIFIED {name} (line 3): its content is not what the log committed to" in (
        result.stderr
    )

    # The right export, the wrong key (another log's).
    other = note.verifier_key(checkpoints.origin(), b"\x07" * 32)
    result = _verify_offline(export, other, tmp_path)
    assert result.returncode == 1
    assert "NOT VERIFIED the export's checkpoint" in result.stderr


def test_build_log_gives_an_existing_archive_its_leaves_and_is_resumable(
    db: None, webhook: Webhook
) -> None:
    archive(webhook, A, 3)
    PendingLeaf.objects.all().delete()  # an archive from before the log
    out = StringIO()
    call_command("build_log", "--dry-run", "--no-progress", stdout=out)
    assert "4 revisions, 0 chat events: 4 leaves appended" in out.getvalue()
    assert log.size() == 0
    call_command("build_log", "--no-progress", stdout=StringIO())
    assert log.size() == 4
    out = StringIO()
    call_command("build_log", "--no-progress", stdout=out)
    assert "0 leaves appended, 4 logged already" in out.getvalue()
    do_checkpoint()
    assert do_verify_log().problems == []
