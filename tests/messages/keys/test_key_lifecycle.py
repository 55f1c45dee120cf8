"""The key lifecycle end to end, through the real manage.py commands, on the default backends
(ORM + local keyring) and on the production ones (Firestore emulator + loopback Cloud KMS)."""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from crypto.chatkeys import ACTIVE, DESTROYED, RETIRED, SUPERSEDED, wrap_aad
from crypto.errors import CryptoError, DecryptionError
from messages import sealing
from messages.models import AuditEntry, ChatAccess
from messages.stores import get_store
from messages.stores.firestore import FirestoreStore
from tests.conftest import Webhook
from tests.factories import ChatFactory, MessageFactory, UpdateFactory, edited

A, B, C = -1001000000000011, -1001000000000022, -1001000000000033
MESSAGES_PER_CHAT = 6


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


def run(command: str, *args: str) -> str:
    """Runs a command as an operator would; returns its stdout (the report and summary)."""
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue()


def summary(command: str, *args: str) -> str:
    return run(command, *args).strip().splitlines()[-1]


def archive(webhook: Webhook) -> dict[int, list[dict[str, Any]]]:
    """A few messages (one edited) in each of three chats, through the webhook."""
    sent: dict[int, list[dict[str, Any]]] = {}
    for chat_id, title in ((A, "Alpha crew"), (B, "Bravo crew"), (C, "Charlie crew")):
        chat = ChatFactory(id=chat_id, title=title)
        for n in range(MESSAGES_PER_CHAT):
            update = UpdateFactory(message=MessageFactory(chat=chat, message_id=n + 1))
            assert webhook.post(update).status_code == 200
            sent.setdefault(chat_id, []).append(update)
        first = sent[chat_id][0]
        assert webhook.post(edited(first, edit_date=1_790_000_000, text="fixed")).status_code == 200
    return sent


def versions(chat_id: int) -> list[tuple[int, str]]:
    return [(k.version, k.state) for k in get_store().get_chat_keys(chat_id)]


def test_archive_rotate_rewrap_reencrypt_and_shred(
    backends: str, webhook: Webhook, api: Any
) -> None:
    sent = archive(webhook)
    keyring = sealing.get_keyring()
    assert summary("verify_archive").startswith(
        f"verify_archive: 3 chats, {3 * (MESSAGES_PER_CHAT + 1)} revisions opened, "
        f"{3 * MESSAGES_PER_CHAT} heads opened, 0 events opened, 0 media files opened, "
        "0 shredded chats, 0 failed"
    )

    # Routine KEK rotation: a new primary, the chat keys move, the old version is disabled.
    old_kek = keyring.version_of(keyring.primary_version())
    assert "is now primary" in run("rotate_kek")
    assert "3 would be rewrapped" in summary("rewrap_keys", "--dry-run")
    assert "3 rewrapped" in summary("rewrap_keys")
    primary = keyring.primary_version()
    assert {k.kek_version for c in (A, B, C) for k in get_store().get_chat_keys(c)} == {primary}
    assert "0 would be rewrapped" in summary("rewrap_keys", "--dry-run")
    run("configure_kek", "--disable", old_kek.label)
    assert not keyring.version_of(old_kek.version).decrypts
    sealing.chat_keys().keys.clear()  # a cold cache: every chat key is unwrapped again
    assert ", 0 failed" in summary("verify_archive")

    # A suspected compromise of chat A's key: a new key, every record re-sealed, the old retired.
    assert "1 rotated" in summary("rotate_chat_keys", "--chat", str(A))
    assert versions(A) == [(1, SUPERSEDED), (2, ACTIVE)]
    assert versions(C) == [(1, ACTIVE)]
    # Sealed with the new key at once. Older than the rest, so the title stays under v1.
    late = MessageFactory(chat=ChatFactory(id=A, title="Alpha"), message_id=99, date=1_700_000_000)
    webhook.post(UpdateFactory(message=late))
    assert api.get(f"/api/v1/messages/{A}:99/").json()["raw"]["message_id"] == 99
    assert "7 revisions would be re-sealed" in summary(
        "reencrypt_messages", "--chat", str(A), "--dry-run"
    )
    assert (
        "7 revisions re-sealed, 0 media files re-sealed, 0 events re-sealed, 1 key version retired"
        in summary("reencrypt_messages", "--chat", str(A))
    )
    keys_a = get_store().get_chat_keys(A)
    assert next((k.version, k.state, k.wrapped) for k in keys_a) == (1, RETIRED, b"")
    assert get_store().count_revisions(A) == {(A, 2): MESSAGES_PER_CHAT + 2}
    assert ", 0 failed" in summary("verify_archive")
    detail = api.get(f"/api/v1/messages/{A}:1/").json()
    assert [v["text"] for v in detail["versions"]][-1] == "fixed"
    assert all(v["error"] is None for v in detail["versions"])
    assert api.get(f"/api/v1/chats/{A}/").json()["title"] == "Alpha crew"

    # An erasure request for chat B.
    wrapped_b = [k.wrapped for k in get_store().get_chat_keys(B)]
    sealed_b = [r.envelope for r in get_store().iter_revisions(B)]
    assert "1 key version would be destroyed" in summary("shred_chat", str(B), "--dry-run")
    assert versions(B) == [(1, ACTIVE)]
    assert f"{MESSAGES_PER_CHAT} messages deleted" in summary("shred_chat", str(B), "--yes")
    report = run("verify_archive")
    assert f"chat {B}: shredded" in report
    assert "2 chats" in report.splitlines()[-1]
    assert "1 shredded chat, 0 failed" in report

    # B is unrecoverable even with direct access to the store and the keyring...
    store = get_store()
    assert [(k.state, k.wrapped) for k in store.get_chat_keys(B)] == [(DESTROYED, b"")]
    assert store.get_chat(B) is None
    assert store.count_revisions(B) == {}
    assert list(store.iter_revisions(B)) == []
    assert list(store.iter_heads(B)) == []
    assert not [e for e in every_stored_bytes(store) if any(w in e for w in wrapped_b)]
    assert not [e for e in every_stored_bytes(store) if any(s in e for s in sealed_b)]
    # A copy of B's wrapped key from before the shred (a backup, say) still opens under the
    # live KEK version, so an erasure ends by moving every other chat key to a new KEK
    # version and destroying the old one (docs/key-rotation.md).
    assert keyring.unwrap(wrapped_b[0], wrap_aad(B, 1))[0]
    shredding_kek = keyring.version_of(keyring.primary_version())
    run("rotate_kek")
    assert "2 rewrapped" in summary("rewrap_keys")
    run("configure_kek", "--destroy", shredding_kek.label, "--yes")
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped_b[0], wrap_aad(B, 1))
    sealing.chat_keys().keys.clear()
    assert "2 chats" in summary("verify_archive")
    # The API and the admin say it is gone; A and C are untouched.
    assert api.get(f"/api/v1/chats/{B}/").status_code == 404
    assert api.get(f"/api/v1/messages/{B}:1/").status_code == 404
    assert api.get(f"/api/v1/messages/?chat={B}").json()["results"] == []
    for chat_id in (A, C):
        listed = api.get(f"/api/v1/messages/?chat={chat_id}&page_size=50").json()["results"]
        assert len(listed) == MESSAGES_PER_CHAT + (chat_id == A)
        assert all(m["error"] is None for m in listed)
    staff = admin_reader()
    page = staff.get(f"/admin/archive/browsablechat/{B}/")
    assert page.status_code == 410
    assert "was shredded" in page.content.decode()
    assert str(B) in staff.get("/admin/archive/browsablechat/").content.decode()
    shreds = AuditEntry.objects.filter(action="shred_chat", chat_id=B)
    assert shreds.count() == 1
    assert shreds[0].channel == AuditEntry.COMMAND
    assert len(sent[C]) == MESSAGES_PER_CHAT


def every_stored_bytes(store: Any) -> list[bytes]:
    """Every bytes value the store holds, read past the contract: rows or documents."""
    if isinstance(store, FirestoreStore):
        found = []
        for collection in store.collections:
            for snapshot in collection.stream():
                found += [v for v in snapshot.to_dict().values() if isinstance(v, bytes)]
        return found
    from messages.models import Chat, ChatKey, Message, MessageRevision

    return [
        bytes(value)
        for model, field in (
            (Message, "envelope"),
            (MessageRevision, "envelope"),
            (ChatKey, "wrapped"),
            (Chat, "sealed_title"),
        )
        for value in model.objects.values_list(field, flat=True)
        if value is not None
    ]


def admin_reader() -> Client:
    staff = User.objects.create_user("reader", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_decrypted"))
    ChatAccess.objects.create(user=staff)  # every chat
    browser = Client()
    browser.force_login(staff)
    return browser


def test_a_server_caching_a_rotated_key_seals_again_under_the_new_one(
    backends: str, webhook: Webhook, api: Any
) -> None:
    """Another process rotated the key; this one still has the old version cached. The store
    refuses its record and archive() seals again: nothing lands under the superseded key."""
    archive(webhook)
    cached = sealing.chat_keys()
    assert cached.active_versions.get(A) == 1
    store = get_store()
    current = store.get_chat_keys(A)
    new, _ = cached.new_record(A, 2)
    from dataclasses import replace

    assert store.change_chat_keys(A, current, [replace(current[0], state=SUPERSEDED), new])
    assert cached.active_versions.get(A) == 1  # still stale in this process
    time.sleep(store.late_write_window)  # Firestore: once its lease on v1 has run out
    update = UpdateFactory(message=MessageFactory(chat=ChatFactory(id=A), message_id=50))
    assert webhook.post(update).json()["outcome"] == "created"
    assert store.count_revisions(A)[A, 2] == 1
    assert api.get(f"/api/v1/messages/{A}:50/").json()["error"] is None


def test_while_a_shred_is_deleting_a_chat_its_messages_are_refused_not_lost(
    backends: str, webhook: Webhook
) -> None:
    archive(webhook)
    store = get_store()
    current = store.get_chat_keys(A)
    store.change_chat_keys(A, current, [k.erased(DESTROYED) for k in current])
    time.sleep(store.late_write_window)  # as shred_chat waits before deleting
    update = UpdateFactory(message=MessageFactory(chat=ChatFactory(id=A), message_id=77))
    assert webhook.post(update).status_code == 503  # Telegram redelivers it later
    store.delete_chat(A)
    assert webhook.post(update).json()["outcome"] == "created"
    assert versions(A) == [(1, DESTROYED), (2, ACTIVE)]


def test_a_second_command_waits_for_the_lock(db: None) -> None:
    from messages.keys.locking import maintenance_lock

    with maintenance_lock("rewrap_keys"), pytest.raises(CommandError) as refused:
        run("rotate_chat_keys")
    assert refused.value.returncode == 75
    assert "rewrap_keys on" in str(refused.value)
    assert "0 failed" in summary("rotate_chat_keys")  # free again


def test_dry_runs_change_nothing(webhook: Webhook) -> None:
    archive(webhook)
    run("rotate_kek")
    audited = AuditEntry.objects.filter(channel=AuditEntry.COMMAND).count()
    before = {c: get_store().get_chat_keys(c) for c in (A, B, C)}
    kek_versions = sealing.get_keyring().versions()
    for command, *args in (
        ("rotate_kek",),
        ("rewrap_keys",),
        ("rotate_chat_keys",),
        ("reencrypt_messages",),
        ("shred_chat", str(B)),
        ("configure_kek", "--disable", "1", "--force"),
    ):
        assert "dry run, nothing changed" in summary(command, *args, "--dry-run")
    assert {c: get_store().get_chat_keys(c) for c in (A, B, C)} == before
    assert sealing.get_keyring().versions() == kek_versions
    assert AuditEntry.objects.filter(channel=AuditEntry.COMMAND).count() == audited


def _damaged_envelope(model: Any) -> Any:
    """Flips a bit of the envelope of chat C's first row of ``model``; returns the row."""
    row = model.objects.filter(chat_id=C).first()
    assert row is not None
    tampered = bytearray(row.envelope)
    tampered[-1] ^= 1
    model.objects.filter(pk=row.pk).update(envelope=bytes(tampered))
    return row


def _verify_archive_fails() -> tuple[str, CommandError]:
    """verify_archive's stderr and the error it ends with."""
    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("verify_archive", stdout=StringIO(), stderr=err)
    return err.getvalue(), failed.value


def test_verify_archive_fails_on_a_record_that_does_not_open(webhook: Webhook) -> None:
    archive(webhook)
    from messages.models import MessageRevision

    row = _damaged_envelope(MessageRevision)
    err, failed = _verify_archive_fails()
    assert failed.returncode == 1
    assert (
        f"FAILED chat {C} message {row.message_id} revision {row.edit_date}: DecryptionError" in err
    )
    assert "finished with 1 failure" in str(failed)


def test_verify_archive_names_a_broken_head_once(webhook: Webhook) -> None:
    # A head's envelope is its newest version's: the revisions pass and the heads pass both
    # open it, and a damaged one is one problem, said once.
    archive(webhook)
    from messages.models import Message

    head = _damaged_envelope(Message)
    err, failed = _verify_archive_fails()
    line = f"FAILED chat {C} message {head.message_id} revision {head.edit_date}: DecryptionError"
    assert err.count(line) == 1, err
    assert "finished with 1 failure" in str(failed)


def test_disabling_a_kek_version_that_still_wraps_chat_keys_is_refused(webhook: Webhook) -> None:
    archive(webhook)
    run("rotate_kek")
    with pytest.raises(CommandError, match="3 chat keys are still wrapped under KEK version 1"):
        run("configure_kek", "--disable", "1")
    assert sealing.get_keyring().version_of("1").decrypts
    with pytest.raises(CommandError, match="primary"):
        run("configure_kek", "--disable", "2", "--force")
    status = run("key_status")
    assert "rewrap_keys would rewrap 3 chat keys (3 from 1) into KEK version 2" in status


def test_shred_asks_for_confirmation_and_refuses_without_a_terminal(webhook: Webhook) -> None:
    archive(webhook)
    with pytest.raises(CommandError, match="pass --yes"):
        run("shred_chat", str(B))
    assert versions(B) == [(1, ACTIVE)]
    with pytest.raises(CommandError, match="not in the archive"):
        run("shred_chat", "12345", "--yes")


def test_key_status_reports_versions_states_and_pending_work(webhook: Webhook) -> None:
    archive(webhook)
    run("rotate_chat_keys", "--chat", str(A))
    run("rotate_kek")
    import json

    status = json.loads(run("key_status", "--json"))
    assert status["primary_kek_version"] == "2"
    # A's new key was made before the KEK rotation: every chat key is under KEK version 1.
    assert [v["chat_keys"] for v in status["kek_versions"]] == [{ACTIVE: 3, SUPERSEDED: 1}, {}]
    assert status["revisions_by_chat_key_version"] == {"1": 3 * (MESSAGES_PER_CHAT + 1)}
    assert status["reencrypt_messages"] == {"chats": 1, "revisions": MESSAGES_PER_CHAT + 1}
    assert status["rewrap_keys"] == {"chat_keys": 4, "from": {"1": 4}}
    assert status["lock"] is None


def test_a_failed_open_is_reported_as_its_error(webhook: Webhook) -> None:
    archive(webhook)
    run("rotate_chat_keys", "--chat", str(A))
    run("reencrypt_messages", "--chat", str(A))
    from messages.models import MessageRevision

    # A record restored from an old backup, naming the retired version: it cannot open.
    row = MessageRevision.objects.filter(chat_id=A).first()
    assert row is not None
    old = bytearray(row.envelope)
    old[1:5] = (1).to_bytes(4, "big")
    MessageRevision.objects.filter(pk=row.pk).update(envelope=bytes(old))
    [result] = sealing.open_many([(identity_of(row), bytes(old))])
    assert isinstance(result, CryptoError)
    assert type(result).__name__ == "ChatKeyRetired"


def identity_of(row: Any) -> Any:
    from crypto.envelope import message_identity

    return message_identity(row.chat_id, row.message_id, row.edit_date)


class Terminal:
    """A stdin that is a terminal: the operator answers the prompt."""

    def isatty(self) -> bool:
        return True


def test_shred_goes_ahead_only_when_the_operator_types_the_chat_id(
    webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive(webhook)
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: str(C))
    with pytest.raises(CommandError, match="not confirmed"):
        run("shred_chat", str(B))
    assert versions(B) == [(1, ACTIVE)]
    monkeypatch.setattr("builtins.input", lambda prompt: f" {B} ")
    out = run("shred_chat", str(B))
    assert f"This erases chat {B} for good: 1 key version would be destroyed" in out
    assert versions(B) == [(1, DESTROYED)]


def test_a_run_whose_lease_was_taken_over_stops(db: None) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from messages.keys.locking import LockLost, maintenance_lock
    from messages.models import MaintenanceLock

    with maintenance_lock("rewrap_keys") as first:
        # The first run stalls past its lease; a second one takes the lock over.
        MaintenanceLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        with maintenance_lock("rotate_chat_keys") as second:
            assert second.took_over is not None
            assert second.took_over.startswith("rewrap_keys on")
            first.renewed_at -= timedelta(minutes=1)  # its next renewal is due
            with pytest.raises(LockLost):
                first.renew()
            assert MaintenanceLock.objects.get().token == second.token
        assert not MaintenanceLock.objects.exists()


def test_a_run_stopped_by_a_keyring_outage_says_so_and_is_audited(
    cloud: Any, webhook: Webhook
) -> None:
    archive(webhook)
    run("rotate_kek")
    cloud.fail_next(3, method="Decrypt")  # every attempt at the first unwrap fails
    with pytest.raises(CommandError, match="rewrap_keys stopped: KeyringError") as stopped:
        run("rewrap_keys")
    assert "run it again to carry on" in str(stopped.value)
    entry = AuditEntry.objects.get(action="rewrap_keys")
    assert entry.filters["summary"].startswith("rewrap_keys stopped: KeyringError")
    assert "3 rewrapped" in summary("rewrap_keys")


def test_an_old_interrupted_rotation_is_not_resumed(webhook: Webhook) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from messages.models import MaintenanceCheckpoint

    archive(webhook)
    long_ago = timezone.now() - timedelta(days=2)
    MaintenanceCheckpoint.objects.create(
        name="rotate_chat_keys:all", state={"cutoff": long_ago.isoformat()}
    )
    out = run("rotate_chat_keys")
    assert "not resuming the interrupted run begun at" in out
    assert "3 rotated" in out
    assert not MaintenanceCheckpoint.objects.exists()
