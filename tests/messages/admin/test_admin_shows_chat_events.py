"""The admin shows a message's reactions, a chat's membership events and the bot's status,
with a warning when the bot was removed or is no administrator; all for readers with the
decrypt permission only."""

from __future__ import annotations

import copy

from tests.conftest import Webhook, load_update, staff_client

CHAT, MESSAGE = -1001234567890123, 4127
CHAT_PAGE = f"/admin/archive/browsablechat/{CHAT}/"


def test_reactions_show_under_the_message(webhook: Webhook) -> None:
    webhook.post_fixture("text_message")
    webhook.post_fixture("message_reaction_count")
    page = staff_client(decrypt=True).get(f"{CHAT_PAGE}{MESSAGE}/").content.decode()
    assert 'id="reactions"' in page
    assert "👍 3" in page
    hidden = staff_client(decrypt=False).get(f"{CHAT_PAGE}{MESSAGE}/").content.decode()
    assert "👍" not in hidden


def test_the_chat_page_lists_member_events_and_the_bots_status(webhook: Webhook) -> None:
    webhook.post_fixture("text_message")
    webhook.post_fixture("my_chat_member")
    webhook.post_fixture("chat_member")
    page = staff_client(decrypt=True).get(CHAT_PAGE).content.decode()
    assert 'id="member-events"' in page
    assert "@priya_builds" in page
    assert "member → restricted" in page
    assert '<strong id="bot-status">administrator</strong>' in page
    assert 'id="bot-warning"' not in page
    assert "priya" not in staff_client(decrypt=False).get(CHAT_PAGE).content.decode()


def test_a_removed_or_demoted_bot_puts_a_warning_on_the_chat_page(webhook: Webhook) -> None:
    webhook.post_fixture("text_message")
    update = copy.deepcopy(load_update("my_chat_member"))
    update["my_chat_member"]["new_chat_member"]["status"] = "member"
    webhook.post(update)
    reader = staff_client(decrypt=True)
    assert "is not an administrator here" in reader.get(CHAT_PAGE).content.decode()
    update["update_id"] += 1
    update["my_chat_member"]["date"] += 1
    update["my_chat_member"]["new_chat_member"]["status"] = "kicked"
    webhook.post(update)
    assert "no longer in this chat" in reader.get(CHAT_PAGE).content.decode()
