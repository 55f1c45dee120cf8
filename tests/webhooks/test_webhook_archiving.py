"""What the webhook stores: every archived kind, replays, edits as versions, legacy route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto.envelope import message_identity
from messages.models import Chat, Message, MessageRevision
from messages.sealing import open_one
from messages.stores import get_store
from tests.conftest import FIXTURES, Webhook, load_update
from webhooks.updates import ARCHIVED_UPDATES

ARCHIVED_FIXTURES = sorted(
    p.stem
    for p in FIXTURES.glob("*.json")
    if ARCHIVED_UPDATES.keys() & json.loads(p.read_text(encoding="utf-8")).keys()
)
CHAT, MESSAGE = -1001234567890123, 4127


def opened(chat_id: int, message_id: int) -> dict:
    history = get_store().get_message(chat_id, message_id)
    assert history is not None
    head = history.head
    identity = message_identity(chat_id, message_id, head.edit_date)
    return json.loads(open_one(identity, head.envelope))


def the_message(update: dict) -> dict:
    return next(update[k] for k in ARCHIVED_UPDATES if k in update)


def chat_count(chat_id: int) -> int:
    """The directory's count of the chat's messages, as the store reports it."""
    chat = get_store().get_chat(chat_id)
    assert chat is not None
    return chat.message_count


@pytest.mark.parametrize("name", ARCHIVED_FIXTURES)
def test_it_archives_every_kind_whole_and_opens_it_back(webhook: Webhook, name: str) -> None:
    update = load_update(name)
    message = the_message(update)
    assert webhook.post(update).status_code == 200
    assert opened(message["chat"]["id"], message["message_id"]) == message


def test_it_keeps_non_latin_text_and_64_bit_ids_exactly(webhook: Webhook) -> None:
    update = load_update("text_message_cyrillic_emoji")
    message = update["message"]
    webhook.post(update)
    back = opened(message["chat"]["id"], message["message_id"])
    assert back["text"] == message["text"]
    assert back["from"]["id"] == message["from"]["id"] > 2**32


def test_a_replay_stores_nothing_new(webhook: Webhook) -> None:
    assert webhook.post_fixture("text_message").json()["outcome"] == "created"
    counts = (Message.objects.count(), MessageRevision.objects.count())
    envelope = bytes(Message.objects.get().envelope)
    for _ in range(3):
        response = webhook.post_fixture("text_message")
        assert response.status_code == 200
        assert response.json()["outcome"] == "duplicate"
    assert (Message.objects.count(), MessageRevision.objects.count()) == counts
    assert bytes(Message.objects.get().envelope) == envelope
    assert chat_count(CHAT) == 1


def test_an_edit_adds_a_version_and_becomes_the_head(webhook: Webhook) -> None:
    webhook.post_fixture("text_message")
    assert webhook.post_fixture("edited_message").json()["outcome"] == "revised"
    history = get_store().get_message(CHAT, MESSAGE)
    assert history is not None
    assert [r.version for r in history.revisions] == [1, 2]
    assert history.head.version_count == 2
    assert opened(CHAT, MESSAGE) == load_update("edited_message")["edited_message"]
    assert chat_count(CHAT) == 1


def test_the_latest_edit_is_the_head_whatever_order_revisions_arrive_in(
    webhook: Webhook,
) -> None:
    for name in ("edited_message_second", "text_message", "edited_message"):
        assert webhook.post_fixture(name).status_code == 200
    history = get_store().get_message(CHAT, MESSAGE)
    assert history is not None
    assert history.head.version_count == 3
    edit_dates = [r.edit_date for r in history.revisions]
    assert edit_dates == sorted(edit_dates)
    assert edit_dates[0] == 0
    second = load_update("edited_message_second")["edited_message"]
    assert history.head.edit_date == second["edit_date"]
    assert opened(CHAT, MESSAGE) == second


def test_every_version_opens_to_its_own_text(webhook: Webhook) -> None:
    names = ("text_message", "edited_message", "edited_message_second")
    for name in names:
        webhook.post_fixture(name)
    history = get_store().get_message(CHAT, MESSAGE)
    assert history is not None
    texts = [
        json.loads(open_one(message_identity(CHAT, MESSAGE, r.edit_date), r.envelope))["text"]
        for r in history.revisions
    ]
    assert texts == [the_message(load_update(n))["text"] for n in names]


@pytest.mark.parametrize("suffix", ["", "/"])
def test_the_legacy_route_archives_with_the_secret_in_the_path(
    webhook: Webhook, settings, suffix: str
) -> None:
    path = f"/webhook/{settings.WEBHOOK_SECRET}{suffix}"
    response = webhook.post(load_update("text_message"), secret="", path=path)
    assert response.status_code == 200
    assert Message.objects.count() == 1


def test_the_legacy_route_refuses_a_wrong_secret(webhook: Webhook) -> None:
    response = webhook.post(load_update("text_message"), secret="", path="/webhook/nope")
    assert response.status_code == 403
    assert Message.objects.count() == 0


def test_a_group_migrated_to_a_supergroup_links_both_chats(webhook: Webhook) -> None:
    old = load_update("migrate_to_chat_id")["message"]
    webhook.post_fixture("migrate_to_chat_id")
    webhook.post_fixture("migrate_from_chat_id")
    new_id = old["migrate_to_chat_id"]
    assert Chat.objects.get(chat_id=old["chat"]["id"]).migrated_to_chat_id == new_id
    assert Chat.objects.get(chat_id=new_id).migrated_from_chat_id == old["chat"]["id"]


def test_the_chat_directory_counts_messages_and_tracks_dates(webhook: Webhook) -> None:
    first = load_update("media_group_photo_1")["message"]
    second = load_update("media_group_photo_2")["message"]
    webhook.post_fixture("media_group_photo_2")
    webhook.post_fixture("media_group_photo_1")
    chat = get_store().get_chat(first["chat"]["id"])
    assert chat is not None
    assert chat.message_count == 2
    assert chat.first_date == min(first["date"], second["date"])
    assert chat.last_date == max(first["date"], second["date"])
    assert chat.type == first["chat"]["type"]


def test_fixture_files_cover_the_documented_kinds() -> None:
    kinds = {Path(name).stem for name in ARCHIVED_FIXTURES}
    assert {"text_message", "channel_post", "edited_channel_post", "business_message"} <= kinds


@pytest.mark.django_db(transaction=True)  # as served: commits run their on_commit hooks
@pytest.mark.parametrize("backend", ["orm", "firestore"])
def test_a_burst_of_messages_moves_the_chats_last_date(
    webhook: Webhook, backend: str, request: pytest.FixtureRequest
) -> None:
    """Within the minute a process writes a chat's directory entry once, the chat's dates
    still follow its messages: they come from the heads, like the count."""
    if backend == "firestore":
        request.getfixturevalue("cloud")
    update = load_update("text_message")
    base = update["message"]["date"]
    for n in range(3):
        update["update_id"] += 1
        update["message"]["message_id"] += 1
        update["message"]["date"] = base + 600 * n
        assert webhook.post(update).status_code == 200
    chat = get_store().get_chat(update["message"]["chat"]["id"])
    assert chat is not None
    assert (chat.first_date, chat.last_date, chat.message_count) == (base, base + 1200, 3)
    [listed] = get_store().list_chats()
    assert listed.last_date == base + 1200
