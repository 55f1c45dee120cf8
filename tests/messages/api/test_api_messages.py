"""Message detail, batch, export, chats, and how failures to open are reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from messages.models import Chat, Message
from tests.conftest import Webhook, load_update

CHAT, MESSAGE = -1001234567890123, 4127
ID = f"{CHAT}:{MESSAGE}"


@pytest.fixture
def edited(webhook: Webhook) -> None:
    for name in ("text_message", "edited_message", "edited_message_second", "photo_with_caption"):
        assert webhook.post_fixture(name).status_code == 200


def test_the_detail_has_every_version_and_the_raw_message(api: Any, edited: None) -> None:
    body = api.get(f"/api/v1/messages/{ID}/").json()
    latest = load_update("edited_message_second")["edited_message"]
    assert body["id"] == ID
    assert body["raw"] == latest
    assert body["text"] == latest["text"]
    assert body["version"] == body["versions_count"] == 3
    assert [v["version"] for v in body["versions"]] == [1, 2, 3]
    assert body["versions"][0]["edit_date"] is None
    assert body["versions"][0]["text"] == load_update("text_message")["message"]["text"]
    assert body["sender"]["username"] == latest["from"]["username"]
    assert body["date"].endswith("Z")


def test_a_list_entry_summarises_media(api: Any, edited: None) -> None:
    results = api.get("/api/v1/messages/?kind=photo").json()["results"]
    [photo] = results
    raw = load_update("photo_with_caption")["message"]
    assert photo["text"] == raw["caption"]
    assert photo["entities"] == raw["caption_entities"]
    assert photo["media"]["type"] == "photo"
    assert photo["media"]["file_ids"] == [p["file_id"] for p in raw["photo"]]
    assert photo["media"]["file_size"] == raw["photo"][-1]["file_size"]


@pytest.mark.parametrize("bad", ["1:2:3", "abc", f"{CHAT}:0", f"{CHAT}:999999"])
def test_an_unknown_or_malformed_message_id_is_404(api: Any, edited: None, bad: str) -> None:
    assert api.get(f"/api/v1/messages/{bad}/").status_code == 404


def test_batch_returns_messages_in_the_order_asked_and_names_the_missing(
    api: Any, edited: None
) -> None:
    photo = f"{CHAT}:{load_update('photo_with_caption')['message']['message_id']}"
    ids = [photo, f"{CHAT}:1", ID, photo]
    body = api.post("/api/v1/messages/batch/", {"ids": ids}, format="json").json()
    assert [r["id"] for r in body["results"]] == [photo, ID]
    assert body["not_found"] == [f"{CHAT}:1"]


@pytest.mark.parametrize(
    "payload",
    [{}, {"ids": []}, {"ids": "x"}, {"ids": ["nope"]}, {"ids": [f"{CHAT}:1"] * 501}],
)
def test_a_bad_batch_is_a_400(api: Any, edited: None, payload: dict[str, Any]) -> None:
    response = api.post("/api/v1/messages/batch/", payload, format="json")
    assert response.status_code == 400
    assert "ids" in response.json()


def test_export_streams_every_matching_message_as_ndjson(api: Any, demo: None) -> None:
    listed = api.get("/api/v1/messages/?page_size=500&ordering=date").json()["results"]
    response = api.get("/api/v1/messages/export/?ordering=date", HTTP_ACCEPT="application/x-ndjson")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == listed
    only_photos = api.get("/api/v1/messages/export/?kind=photo")
    photos = b"".join(only_photos.streaming_content).decode().splitlines()
    assert photos
    assert {json.loads(line)["kind"] for line in photos} == {"photo"}


def test_export_refuses_bad_filters(api: Any, demo: None) -> None:
    assert api.get("/api/v1/messages/export/?since=soon").status_code == 400
    assert api.get("/api/v1/messages/export/?cursor=x").status_code == 400


def test_chats_show_titles_counts_and_migration_links(api: Any, webhook: Webhook) -> None:
    webhook.post_fixture("migrate_to_chat_id")
    webhook.post_fixture("migrate_from_chat_id")
    old = load_update("migrate_to_chat_id")["message"]
    body = api.get(f"/api/v1/chats/{old['chat']['id']}/").json()
    assert body["title"] == old["chat"]["title"]
    assert body["migrated_to_chat_id"] == old["migrate_to_chat_id"]
    assert body["message_count"] == 1
    assert api.get("/api/v1/chats/42/").status_code == 404


def test_a_tampered_record_is_reported_as_an_error_never_as_text(api: Any, edited: None) -> None:
    row = Message.objects.get(chat_id=CHAT, message_id=MESSAGE)
    envelope = bytearray(row.envelope)
    envelope[-1] ^= 1
    Message.objects.filter(pk=row.pk).update(envelope=bytes(envelope))
    results = api.get(f"/api/v1/messages/?chat={CHAT}").json()["results"]
    broken = next(r for r in results if r["id"] == ID)
    assert broken["error"]["type"] == "DecryptionError"
    assert broken["text"] is None
    assert broken["sender"] is None
    assert all(r["error"] is None for r in results if r["id"] != ID)


def test_a_swapped_title_is_reported_as_an_error(api: Any, webhook: Webhook) -> None:
    webhook.post_fixture("text_message")
    webhook.post_fixture("private_message")
    team, private = Chat.objects.get(chat_id=CHAT), Chat.objects.exclude(chat_id=CHAT).get()
    Chat.objects.filter(pk=private.pk).update(sealed_title=team.sealed_title)
    body = api.get(f"/api/v1/chats/{private.chat_id}/").json()
    assert body["title"] is None
    assert body["error"]["type"] == "DecryptionError"


def test_the_api_answers_503_when_the_keyring_is_unavailable(
    api: Any, edited: None, keyring_path: Path
) -> None:
    from messages.sealing import chat_keys

    chat_keys().keys.clear()
    keyring_path.unlink()
    response = api.get("/api/v1/messages/")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert b"ZEBRA" not in response.content
