"""A message's file fields reach plain columns (the media record: file_id, file_unique_id,
declared_size), so a value no column can hold must never reach one. The webhook's answer is
always consistent with what was stored, the same on every database, and never a 503 for bad
input (Telegram would redeliver it forever):

- a size that no file can have (over 52 bits, as Telegram documents its sizes) is unknown:
  the message is archived, its file is recorded and fetched (getFile tells the real size);
- an id that is not a Bot API id (NUL, control or non-ASCII characters, too long) is refused
  with a 400, and nothing at all is stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from messages.models import Chat, ChatKey, MediaFile, Message, MessageRevision
from tests.conftest import Webhook, load_update

# Telegram: a file size "has at most 52 significant bits", like its ids.
MAX_FILE_SIZE = 2**53 - 1

# Real commits, as in production: a 400 must not come after a message was committed.
pytestmark = pytest.mark.django_db(transaction=True)


def stored() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Message, MessageRevision, Chat, ChatKey, MediaFile))


def photo() -> dict[str, Any]:
    return load_update("photo_with_caption")


def largest(update: dict[str, Any]) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = update["message"]["photo"]
    return sizes[-1]


def document() -> dict[str, Any]:
    return load_update("document")


@pytest.mark.parametrize("size", [2**63, 2**63 - 1, 2**64, MAX_FILE_SIZE + 1, -1, 1.5, True])
def test_a_size_no_file_can_have_is_unknown(webhook: Webhook, size: object) -> None:
    update = photo()
    largest(update)["file_size"] = size
    response = webhook.post(update)
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "created"
    [row] = MediaFile.objects.all()
    assert (row.file_unique_id, row.declared_size, row.status) == (
        "AQAD5Ynp0DFLAANX",
        None,
        "pending",
    )
    assert row.file_id == largest(update)["file_id"]
    # A redelivery is a duplicate, not an error.
    assert webhook.post(update).json()["outcome"] == "duplicate"


def test_the_largest_size_telegram_documents_is_kept(webhook: Webhook) -> None:
    update = document()
    update["message"]["document"]["file_size"] = MAX_FILE_SIZE
    assert webhook.post(update).status_code == 200
    assert MediaFile.objects.get().declared_size == MAX_FILE_SIZE


BAD_IDS = {
    "nul": "AgACAgQAAxkBAAIC\x00sdiyIJY7WKQ00",
    "control": "AgACAgQAAxkB\nAAIC",
    "space": "AgACAgQ AAxkB",
    "non_ascii": "AgACAgQAAxkBAAICé",
    "slash": "../../etc/passwd",
    "too_long": "A" * 257,
    "not_a_string": 12345,
}


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_a_file_id_that_is_not_a_bot_api_id_is_refused_and_nothing_stored(
    webhook: Webhook, bad: object
) -> None:
    update = photo()
    largest(update)["file_id"] = bad
    response = webhook.post(update)
    assert response.status_code == 400, response.content
    assert stored() == (0, 0, 0, 0, 0)
    assert response.json()["error"] == "message.photo.file_id is not a Bot API file id"


@pytest.mark.parametrize("bad", [*BAD_IDS.values(), "A" * 65, ""], ids=[*BAD_IDS, "65", "empty"])
def test_a_file_unique_id_that_is_not_a_bot_api_id_is_refused_and_nothing_stored(
    webhook: Webhook, bad: object
) -> None:
    update = document()
    update["message"]["document"]["file_unique_id"] = bad
    response = webhook.post(update)
    assert response.status_code == 400, response.content
    assert stored() == (0, 0, 0, 0, 0)
    assert response.json()["error"] == "message.document.file_unique_id is not a Bot API file id"


def test_the_longest_ids_telegram_could_send_are_kept(webhook: Webhook) -> None:
    update = document()
    update["message"]["document"].update(file_id="B" * 256, file_unique_id="U" * 64)
    assert webhook.post(update).status_code == 200
    row = MediaFile.objects.get()
    assert (row.file_id, row.file_unique_id) == ("B" * 256, "U" * 64)


def test_an_edit_with_a_poisoned_file_changes_nothing(webhook: Webhook) -> None:
    update = document()
    assert webhook.post(update).status_code == 200
    before = stored()
    edit = {"update_id": update["update_id"] + 1, "edited_message": update["message"]}
    edit["edited_message"]["edit_date"] = edit["edited_message"]["date"] + 60
    edit["edited_message"]["document"]["file_id"] = "BQACAgQ\x00AAxkBAAIC"
    assert webhook.post(edit).status_code == 400
    assert stored() == before


def test_a_smaller_photo_size_is_not_what_is_fetched_so_it_is_not_checked(
    webhook: Webhook,
) -> None:
    """Only the largest size reaches the media record; the others are kept sealed only."""
    update = photo()
    update["message"]["photo"][0]["file_size"] = 2**70
    assert webhook.post(update).status_code == 200
    assert MediaFile.objects.get().declared_size == largest(update)["file_size"]


def firestore_documents() -> int:
    from messages.stores import get_store

    return sum(len(list(c.stream())) for c in get_store().collections)  # type: ignore[attr-defined]


def test_on_firestore_the_answers_are_the_same(cloud: Any, webhook: Webhook) -> None:
    """The message store differs, the decisions do not: they are made before any store."""
    poisoned = photo()
    largest(poisoned)["file_id"] = BAD_IDS["nul"]
    assert webhook.post(poisoned).status_code == 400
    assert firestore_documents() == 0
    assert stored() == (0, 0, 0, 0, 0)

    unknown = photo()
    largest(unknown)["file_size"] = 2**63
    assert webhook.post(unknown).json()["outcome"] == "created"
    assert MediaFile.objects.get().declared_size is None
    assert webhook.post(unknown).json()["outcome"] == "duplicate"
