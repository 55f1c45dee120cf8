"""Every kind of message says something in the admin's list: text, caption, media, or a
summary (a poll's question, a place, who joined)."""

from __future__ import annotations

import pytest

from messages.reading import fields
from tests.conftest import Webhook, load_update, staff_client

SAID = {
    "poll": "Poll: ",
    "location": "Location: ",
    "venue": "Venue: ",
    "contact": "Contact: ",
    "dice": "Dice ",
    "sticker": "Sticker",
    "new_chat_members": "Joined: ",
    "left_chat_member": "Left: ",
    "new_chat_title": "Title changed to: ",
    "pinned_message": "Pinned a message",
    "forum_topic_created": "Topic created: ",
    "migrate_to_chat_id": "Group upgraded to supergroup ",
}


@pytest.mark.parametrize("fixture", sorted(SAID))
def test_each_kind_has_its_summary(fixture: str) -> None:
    update = load_update(fixture)
    message = next(v for k, v in update.items() if k != "update_id")
    said = fields.summary(message)
    assert said is not None
    assert said.startswith(SAID[fixture])


def test_a_poll_shows_its_question_in_the_list(webhook: Webhook) -> None:
    update = load_update("poll")
    assert webhook.post(update).status_code == 200
    chat_id = update["message"]["chat"]["id"]
    page = staff_client(decrypt=True).get(f"/admin/archive/browsablechat/{chat_id}/")
    assert page.status_code == 200
    question = update["message"]["poll"]["question"]
    assert f"<em>Poll: {question}" in page.content.decode()
