"""load_demo archives a realistic conversation through the real archive service."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from crypto.envelope import message_identity, title_identity
from messages.sealing import open_one
from messages.stores import get_store
from messages.stores.records import MessageQuery
from webhooks.demo_data import demo_updates

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def test_it_archives_several_chats_with_edits_and_every_message_opens() -> None:
    output = run()
    store = get_store()
    chats = store.list_chats()
    assert len(chats) >= 5
    assert {c.type for c in chats} >= {"supergroup", "channel", "private"}
    page = store.query(MessageQuery(limit=500))
    assert not page.has_more
    assert any(m.edited for m in page.items)
    assert any(m.thread_id for m in page.items)
    kinds = {m.kind for m in page.items}
    assert {"text", "photo", "document", "voice", "sticker", "poll"} <= kinds
    for message in page.items:
        identity = message_identity(message.chat_id, message.message_id, message.edit_date)
        assert json.loads(open_one(identity, message.envelope))["message_id"] == message.message_id
    for chat in chats:
        assert chat.sealed_title is not None
        assert open_one(title_identity(chat.chat_id), chat.sealed_title)
    assert f"in {len(chats)} chats" in output


def test_it_holds_non_latin_text_and_emoji() -> None:
    texts = json.dumps(demo_updates(), ensure_ascii=False)
    assert any("\u0400" <= ch <= "\u04ff" for ch in texts)  # Cyrillic
    assert any("\u3040" <= ch <= "\u30ff" for ch in texts)  # Japanese kana
    assert any(ord(ch) >= 0x1F300 for ch in texts)  # emoji


def test_a_second_run_changes_nothing_and_if_empty_skips() -> None:
    run()
    count = len(get_store().query(MessageQuery(limit=500)).items)
    assert "0 messages, 0 edits" in run()
    assert "not empty" in run("--if-empty")
    assert len(get_store().query(MessageQuery(limit=500)).items) == count
