"""The whole flow once more on the production backends: webhook → API → admin, with the
Firestore store on the emulator and the Cloud KMS keyring on the loopback peer."""

from __future__ import annotations

import json
from typing import Any

import grpc
from django.contrib.auth.models import Permission, User
from django.test import Client

from messages.models import ChatAccess
from messages.stores import get_store
from messages.stores.firestore import FirestoreStore
from tests.conftest import FIXTURES, Webhook, load_update
from tests.end_to_end.test_nothing_at_rest_in_plaintext import MARKED, MARKERS
from webhooks.updates import ARCHIVED_UPDATES

TEAM, MESSAGE = -1001234567890123, 4127


def archived_fixtures() -> list[str]:
    return sorted(
        p.stem
        for p in FIXTURES.glob("*.json")
        if ARCHIVED_UPDATES.keys() & json.loads(p.read_text(encoding="utf-8")).keys()
    )


def test_webhook_to_api_to_admin_on_firestore_and_cloud_kms(
    cloud: Any, webhook: Webhook, api: Any
) -> None:
    assert isinstance(get_store(), FirestoreStore)
    names = archived_fixtures()
    for name in names:
        assert webhook.post_fixture(name).status_code == 200, name
    assert webhook.post_fixture("text_message").json()["outcome"] == "duplicate"

    listed, url = [], "/api/v1/messages/?page_size=7&ordering=date"
    while url:
        body = api.get(url).json()
        listed += body["results"]
        url = body["next"]
    expected = {f"{the_chat(n)}:{the_message(n)['message_id']}" for n in names}
    assert [r["id"] for r in listed] == list(dict.fromkeys(r["id"] for r in listed))
    assert {r["id"] for r in listed} == expected
    assert all(r["error"] is None for r in listed)
    detail = api.get(f"/api/v1/messages/{TEAM}:{MESSAGE}/").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2, 3]
    assert detail["raw"] == load_update("edited_message_second")["edited_message"]

    staff = User.objects.create_user("reader", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_decrypted"))
    ChatAccess.objects.create(user=staff)  # every chat
    browser = Client()
    browser.force_login(staff)
    page = browser.get(f"/admin/archive/browsablechat/{TEAM}/").content.decode()
    assert "Quillfeather Release Crew" in page
    assert "Marguerite" in page
    assert cloud.calls["Encrypt"] == len({the_chat(n) for n in names})  # one per chat


def the_message(name: str) -> dict[str, Any]:
    update = load_update(name)
    return next(update[k] for k in ARCHIVED_UPDATES if k in update)


def the_chat(name: str) -> int:
    return int(the_message(name)["chat"]["id"])


def test_no_firestore_document_holds_plaintext(cloud: Any, webhook: Webhook) -> None:
    for name in MARKED:
        assert webhook.post_fixture(name).status_code == 200
    store = get_store()
    assert isinstance(store, FirestoreStore)
    dumped = b""
    # Every collection the store writes (the emulator cannot list collections itself).
    for collection in store.collections:
        for snapshot in collection.stream():
            for value in snapshot.to_dict().values():
                dumped += value if isinstance(value, bytes) else str(value).encode()
    assert len(dumped) > 1000
    for marker in MARKERS:
        assert marker.encode() not in dumped


def test_a_kms_outage_stores_nothing_in_firestore_and_the_retry_succeeds(
    cloud: Any, webhook: Webhook
) -> None:
    cloud.fail_next(3, grpc.StatusCode.UNAVAILABLE)
    assert webhook.post_fixture("text_message").status_code == 503
    assert get_store().get_chat(TEAM) is None
    assert webhook.post_fixture("text_message").json()["outcome"] == "created"
    assert get_store().get_chat(TEAM).message_count == 1  # type: ignore[union-attr]


def test_firestore_documents_from_before_key_version_are_read_from_their_envelopes(
    firestore_project: str, db: None
) -> None:
    """Revision and head documents written before the key_version field existed."""
    import os

    store = FirestoreStore(project=firestore_project)
    envelope = bytes([1]) + (3).to_bytes(4, "big") + os.urandom(60)
    fields = {"chat_id": TEAM, "message_id": 1, "edit_date": 0, "envelope": envelope}
    store.revision_docs.document(f"{TEAM}:1:0").set(fields)
    store.messages.document(f"{TEAM}:1").set(
        {**fields, "date": 1, "kind": "text", "sort_key": "k", "version_count": 1, "edited": False}
    )
    assert store.count_revisions(TEAM) == {(TEAM, 3): 1}
    assert [r.key_version for r in store.revisions(TEAM)] == [3]
    history = store.get_message(TEAM, 1)
    assert history is not None
    assert history.head.key_version == 3
