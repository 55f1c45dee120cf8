"""Input that Telegram never sends, or that a store would refuse on every retry, is a 400 that
stores nothing: never a 2xx for junk, never a 5xx that Telegram would redeliver for a day."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from typing import Any

import pytest
from django.db import connection

from messages.models import Chat, ChatKey, Message, MessageRevision
from messages.services import archive
from messages.stores.records import RecordRefused
from messages.telegram import IncomingMessage
from tests.conftest import Webhook, load_update
from webhooks.updates import parse_update


def _nothing_stored() -> bool:
    return not any(m.objects.exists() for m in (Message, MessageRevision, Chat, ChatKey))


def _text_update(**message: Any) -> dict[str, Any]:
    update = load_update("text_message")
    update["message"].update(message)
    return update


def test_a_number_too_large_for_a_float_is_a_400(webhook: Webhook) -> None:
    body = json.dumps(load_update("text_message")).replace('"offset": 0', '"offset": 1e400')
    assert "1e400" in body
    response = webhook.post(body)
    assert response.status_code == 400
    assert "too large" in response.json()["error"]
    assert _nothing_stored()


def _nested(depth: int) -> str:
    update = load_update("text_message")
    update["message"]["deep"] = "__DEEP__"
    return json.dumps(update).replace('"__DEEP__"', "[" * depth + "]" * depth)


@pytest.mark.parametrize("depth", [40, 949, 950, 951, 5_000, 100_000])
def test_nesting_deeper_than_telegram_sends_is_a_400(webhook: Webhook, depth: int) -> None:
    response = webhook.post(_nested(depth))
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["error"]
    assert _nothing_stored()


def test_nesting_as_deep_as_telegram_sends_is_archived(webhook: Webhook) -> None:
    assert webhook.post(_nested(20)).status_code == 200


def test_a_duplicate_key_is_a_400(webhook: Webhook) -> None:
    body = json.dumps(load_update("text_message")).replace(
        '"message_id": 4127,', '"message_id": 4127, "message_id": 4128,'
    )
    assert body.count('"message_id"') == 2
    response = webhook.post(body)
    assert response.status_code == 400
    assert "same key twice" in response.json()["error"]
    assert _nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_a_body_shorter_than_its_content_length_is_a_400(live_server: Any) -> None:
    """A client that half-closes its connection part way: the server reads fewer bytes than
    were announced. Sent over a real socket, since Django's test client cannot do this."""
    body = json.dumps(load_update("text_message")).encode()
    host, port = live_server.url.removeprefix("http://").split(":")
    head = (
        f"POST /telegram/webhook/ HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/json\r\n"
        "X-Telegram-Bot-Api-Secret-Token: test-webhook-secret_0123456789\r\n"
        f"Content-Length: {len(body) + 40}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + body)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:300]
    assert b"shorter than its Content-Length" in rest
    assert _nothing_stored()


@pytest.mark.parametrize(
    "message",
    [
        {"message_thread_id": -(2**63)},
        {"message_thread_id": 2**53},
        {"chat": {"id": -1001234567890123, "type": "super\u0000group", "title": "x"}},
        {"chat": {"id": -1001234567890123, "type": "a-type-longer-than-sixteen"}},
        {"media_group_id": "album\u0000"},
        {"media_group_id": "x" * 65},
        {"media_group_id": {"id": 1}},
        {"from": {"id": 2**64, "is_bot": False, "first_name": "A"}, "sender_chat": {"id": -1}},
        {"from": {"id": "42", "is_bot": False, "first_name": "A"}, "sender_chat": {"id": -1}},
        {"from": "someone"},
        {"reply_to_message": "not a message"},
        {"reply_to_message": {"message_id": 0, "date": 1, "chat": {"id": 1, "type": "group"}}},
    ],
    ids=[
        "thread-int64-min",
        "thread-2^53",
        "nul-in-chat-type",
        "long-chat-type",
        "nul-in-media-group",
        "long-media-group",
        "object-media-group",
        "from-id-2^64-beside-sender-chat",
        "from-id-string-beside-sender-chat",
        "from-not-an-object",
        "reply-not-an-object",
        "reply-id-zero",
    ],
)
def test_an_index_field_no_store_could_hold_is_a_400(
    webhook: Webhook, message: dict[str, Any]
) -> None:
    response = webhook.post(_text_update(**message))
    assert response.status_code == 400
    assert _nothing_stored()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("thread_id", [2**63, -(2**63) - 1, 2**64])
def test_a_value_the_database_cannot_hold_is_refused_not_an_outage(thread_id: int) -> None:
    """Defence in depth behind the parser: archive() given a value beyond the database's
    integers gets RecordRefused (the webhook's 400), not StoreError (its 503), on SQLite and
    PostgreSQL alike, and nothing is stored."""
    incoming = parse_update(load_update("text_message"))
    assert isinstance(incoming, IncomingMessage)
    with pytest.raises(RecordRefused):
        archive(replace(incoming, thread_id=thread_id))
    assert not Message.objects.exists()
    assert not MessageRevision.objects.exists()
    assert connection.is_usable()
