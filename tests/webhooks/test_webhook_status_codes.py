"""Every status code the webhook answers, and that a refused request stores nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from messages.models import Chat, ChatKey, Message, MessageRevision
from tests.conftest import FIXTURES, Webhook, load_update


def stored_rows() -> int:
    return sum(m.objects.count() for m in (Chat, ChatKey, Message, MessageRevision))


def test_it_archives_a_message_and_answers_200(webhook: Webhook) -> None:
    response = webhook.post_fixture("text_message")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "outcome": "created"}
    assert Message.objects.filter(chat_id=-1001234567890123, message_id=4127).exists()


@pytest.mark.parametrize("secret", ["", "wrong-secret", "test-webhook-secret_012345678"])
def test_it_refuses_a_missing_or_wrong_secret_with_403(webhook: Webhook, secret: str) -> None:
    response = webhook.post_fixture("text_message", secret=secret)
    assert response.status_code == 403
    assert stored_rows() == 0


def test_it_accepts_the_previous_secret_during_a_rotation_and_not_after(
    webhook: Webhook, settings: Any
) -> None:
    settings.WEBHOOK_SECRET = "new-secret"
    settings.WEBHOOK_SECRET_FALLBACKS = ["old-secret"]
    assert webhook.post_fixture("text_message", secret="old-secret").status_code == 200
    assert webhook.post_fixture("text_message", secret="new-secret").status_code == 200
    assert webhook.post_fixture("text_message", secret="other").status_code == 403

    settings.WEBHOOK_SECRET_FALLBACKS = []
    assert webhook.post_fixture("text_message", secret="old-secret").status_code == 403


def test_it_does_not_parse_the_body_of_a_forbidden_request(webhook: Webhook) -> None:
    response = webhook.post(b"{not json", secret="wrong")
    assert response.status_code == 403


def test_it_refuses_a_body_over_1_mib_with_413(webhook: Webhook) -> None:
    update = load_update("text_message")
    update["message"]["text"] = "x" * (1024 * 1024)
    response = webhook.post(update)
    assert response.status_code == 413
    assert stored_rows() == 0


def test_it_accepts_a_body_just_under_the_cap(webhook: Webhook) -> None:
    update = load_update("text_message")
    update["message"]["text"] = ""
    padding = 1024 * 1024 - len(json.dumps(update).encode())
    update["message"]["text"] = "y" * padding
    assert len(json.dumps(update).encode()) == 1024 * 1024
    assert webhook.post(update).status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2"])
def test_it_refuses_invalid_json_with_400(webhook: Webhook, body: bytes) -> None:
    response = webhook.post(body)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "path", sorted((FIXTURES / "invalid").glob("*.json")), ids=lambda p: Path(p).stem
)
def test_it_refuses_a_body_that_is_not_an_update_with_400(webhook: Webhook, path: Path) -> None:
    response = webhook.post(path.read_bytes())
    assert response.status_code == 400
    assert stored_rows() == 0


def test_it_refuses_deeply_nested_json_with_400(webhook: Webhook) -> None:
    response = webhook.post(b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code in (400, 413)
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "name",
    [
        "callback_query",
        "poll_answer",
        "poll_state",
        "inline_query",
    ],
)
def test_it_acknowledges_and_ignores_kinds_it_does_not_archive(webhook: Webhook, name: str) -> None:
    response = webhook.post_fixture(name)
    assert response.status_code == 200
    assert response.json()["ignored"] == next(k for k in load_update(name) if k != "update_id")
    assert stored_rows() == 0


def test_it_answers_405_to_a_get(webhook: Webhook) -> None:
    assert webhook.client.get("/telegram/webhook/").status_code == 405


def test_it_answers_503_when_the_keyring_is_unavailable_and_stores_nothing(
    webhook: Webhook, keyring_path: Path
) -> None:
    moved = keyring_path.with_suffix(".away")
    keyring_path.rename(moved)
    response = webhook.post_fixture("text_message")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert stored_rows() == 0

    moved.rename(keyring_path)
    assert webhook.post_fixture("text_message").json()["outcome"] == "created"


def test_it_answers_503_when_the_store_fails_and_keeps_nothing_half_way(
    webhook: Webhook,
) -> None:
    webhook.post_fixture("text_message")  # the chat key exists now; the next write is store-only
    before = stored_rows()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE archive_messagerevision RENAME TO revision_away")
    response = webhook.post_fixture("edited_message")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE revision_away RENAME TO archive_messagerevision")
    assert response.status_code == 503
    assert stored_rows() == before
    head = Message.objects.get(chat_id=-1001234567890123, message_id=4127)
    assert head.version_count == 1

    assert webhook.post_fixture("edited_message").json()["outcome"] == "revised"


def test_it_answers_503_when_a_chat_key_cannot_be_unwrapped(
    webhook: Webhook, keyring_path: Path
) -> None:
    from crypto.keyrings.local import LocalKeyring
    from messages.sealing import chat_keys

    assert webhook.post_fixture("text_message").status_code == 200
    LocalKeyring(path=str(keyring_path)).rotate()
    state = json.loads(keyring_path.read_text())
    state["versions"][0]["state"] = "disabled"  # the chat key is wrapped under version 1
    keyring_path.write_text(json.dumps(state))
    chat_keys().keys.clear()
    chat_keys().active_versions.clear()
    before = stored_rows()
    response = webhook.post_fixture("edited_message")
    assert response.status_code == 503
    assert stored_rows() == before
