"""Reactions and membership events, from the webhook to the API: sealed, idempotent, shown
as a message's ``reactions``, a chat's ``events`` and its ``bot_status``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from messages.models import ChatEvent, ReceivedUpdate
from tests.conftest import Webhook, load_update

CHAT, MESSAGE = -1001234567890123, 4127


def reaction(update_id: int, user_id: int, emojis: list[str], date: int = 1786536180) -> Any:
    update = copy.deepcopy(load_update("message_reaction"))
    update["update_id"] = update_id
    body = update["message_reaction"]
    body["user"]["id"], body["date"] = user_id, date
    body["new_reaction"] = [{"type": "emoji", "emoji": e} for e in emojis]
    return update


def reactions_of(api: Any) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/messages/{CHAT}:{MESSAGE}/")
    assert response.status_code == 200, response.content[:300]
    return response.json()["reactions"]


@pytest.fixture
def message(webhook: Webhook) -> None:
    assert webhook.post_fixture("text_message").status_code == 200


def test_each_event_kind_is_archived_and_a_redelivery_changes_nothing(
    webhook: Webhook, message: None
) -> None:
    for name in ("message_reaction", "message_reaction_count", "chat_member", "my_chat_member"):
        first = webhook.post_fixture(name)
        assert first.status_code == 200
        assert first.json()["outcome"] == "created", name
        assert webhook.post_fixture(name).json()["outcome"] == "duplicate", name
    assert ChatEvent.objects.count() == 4
    assert ReceivedUpdate.objects.count() == 5  # the message's update too


def test_reactions_are_counted_from_each_persons_latest_choice(
    webhook: Webhook, message: None, api: Any
) -> None:
    assert reactions_of(api) == []
    webhook.post(reaction(1, 11, ["👍"]))
    webhook.post(reaction(2, 12, ["👍", "🔥"]))
    webhook.post(reaction(3, 11, ["🔥"], date=1786536300))  # 11 changed their mind
    assert reactions_of(api) == [{"emoji": "🔥", "count": 2}, {"emoji": "👍", "count": 1}]
    listed = api.get("/api/v1/messages/", {"chat": CHAT}).json()["results"]
    assert listed[0]["reactions"] == [{"emoji": "🔥", "count": 2}, {"emoji": "👍", "count": 1}]


def test_telegrams_totals_win_over_the_per_person_count(
    webhook: Webhook, message: None, api: Any
) -> None:
    webhook.post(reaction(1, 11, ["🔥"]))
    webhook.post_fixture("message_reaction_count")
    assert reactions_of(api) == [
        {"emoji": "👍", "count": 3},
        {"custom_emoji_id": "5368324170671202286", "count": 1},
    ]


def test_a_chats_events_and_the_bots_status_come_through_the_api(
    webhook: Webhook, message: None, api: Any
) -> None:
    webhook.post_fixture("my_chat_member")
    webhook.post_fixture("chat_member")
    webhook.post_fixture("message_reaction")  # not a membership event: not listed
    events = api.get(f"/api/v1/chats/{CHAT}/events/").json()
    assert [(e["kind"], e["old_status"], e["new_status"]) for e in events["results"]] == [
        ("chat_member", "member", "restricted"),
        ("my_chat_member", "member", "administrator"),
    ]
    first = events["results"][0]
    assert first["user"]["username"] == "priya_builds"
    assert first["by"]["username"] == "mquillfeather_zz"
    assert first["date"] == "2026-08-12T12:02:00Z"
    assert api.get(f"/api/v1/chats/{CHAT}/").json()["bot_status"] == "administrator"


def test_event_pages_follow_a_signed_cursor_and_refuse_a_forged_one(
    webhook: Webhook, message: None, api: Any
) -> None:
    for update_id in range(100, 105):
        update = copy.deepcopy(load_update("chat_member"))
        update["update_id"] = update_id
        update["chat_member"]["date"] += update_id
        webhook.post(update)
    seen, url = [], f"/api/v1/chats/{CHAT}/events/?page_size=2&ordering=date"
    while url:
        page = api.get(url).json()
        seen += [e["date"] for e in page["results"]]
        url = page["next"]
    assert len(seen) == 5
    assert seen == sorted(seen)
    forged = api.get(f"/api/v1/chats/{CHAT}/events/", {"cursor": "00000000001.0"})
    assert forged.status_code == 400


def test_a_key_limited_to_other_chats_sees_no_events(
    webhook: Webhook, message: None, make_api_client: Any
) -> None:
    webhook.post_fixture("chat_member")
    limited = make_api_client(-1009)
    assert limited.get(f"/api/v1/chats/{CHAT}/events/").status_code == 404
