"""A chat whose first update is an event (the bot was just added: ``my_chat_member``) is in
the directory at once, with its type and its sealed title, and no message counted: listed by
the API, the admin and bot_status before its first message. On ORM and on Firestore."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from messages.stores import get_store
from tests.conftest import Webhook, staff_client
from webhooks.loopback import BOT_ID

CHAT, TITLE = -1001234567890123, "Quillfeather Release Crew"


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


def test_the_bot_added_to_a_chat_lists_it_with_no_message(
    backends: str, webhook: Webhook, api: Any
) -> None:
    assert webhook.post_fixture("my_chat_member").json()["outcome"] == "created"
    [chat] = get_store().list_chats()
    assert (chat.chat_id, chat.type, chat.message_count) == (CHAT, "supergroup", 0)
    assert chat.sealed_title is not None
    assert TITLE.encode() not in chat.sealed_title  # sealed, as a message's chat title is
    listed = api.get("/api/v1/chats/").json()["results"]
    assert [(c["id"], c["title"], c["bot_status"]) for c in listed] == [
        (CHAT, TITLE, "administrator")
    ]
    admin = staff_client(decrypt=True).get("/admin/archive/browsablechat/").content.decode()
    assert TITLE in admin

    assert webhook.post_fixture("text_message").status_code == 200
    assert webhook.post_fixture("chat_member").json()["outcome"] == "created"
    [chat] = get_store().list_chats()
    assert chat.message_count == 1  # the message, not the events


def test_bot_status_reports_a_chat_known_only_from_an_event(webhook: Webhook, bot_api: Any) -> None:
    bot_api.members[(CHAT, BOT_ID)] = "administrator"
    webhook.post_fixture("my_chat_member")
    out = StringIO()
    call_command("bot_status", "--json", stdout=out)
    [chat] = json.loads(out.getvalue())["chats"]
    assert (chat["chat_id"], chat["title"], chat["bot_status"]) == (CHAT, TITLE, "administrator")
