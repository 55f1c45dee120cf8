"""Keyset pages: every message exactly once, in Telegram date order, in both directions."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import signing

from messages.cursors import Cursor, encode
from messages.services import archive
from messages.stores import get_store
from messages.stores.records import MessageQuery
from messages.telegram import IncomingMessage
from tests.factories import UpdateFactory
from webhooks.updates import parse_update

URL = "/api/v1/messages/"


def archive_update(update: dict[str, Any]) -> None:
    incoming = parse_update(update)
    assert isinstance(incoming, IncomingMessage)
    archive(incoming)


@pytest.fixture
def many(demo: None) -> list[tuple[int, int, int]]:
    """The demo plus 60 messages in three chats sharing timestamps, as (date, chat, message)."""
    for n in range(60):
        chat = (-1001000000000001, -1001000000000002, 5_000_000_001)[n % 3]
        archive_update(UpdateFactory(message__chat__id=chat, message__date=1_790_000_000 + n // 4))
    heads = get_store().query(MessageQuery(limit=10_000)).items
    return [(m.date, m.chat_id, m.message_id) for m in heads]


def walk(api: Any, url: str, link: str = "next") -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        results += body["results"]
        url = body[link]
    return results


def keys(results: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(r["chat_id"], r["message_id"]) for r in results]


@pytest.mark.parametrize("page_size", [2, 500])
@pytest.mark.parametrize("ordering", ["date", "-date"])
def test_walking_every_page_returns_each_message_once_in_date_order(
    api: Any, many: list[tuple[int, int, int]], page_size: int, ordering: str
) -> None:
    results = walk(api, f"{URL}?page_size={page_size}&ordering={ordering}")
    expected = sorted(many, reverse=ordering == "-date")
    assert keys(results) == [(chat, message) for _, chat, message in expected]
    dates = [r["date"] for r in results]
    assert dates == sorted(dates, reverse=ordering == "-date")


def test_previous_links_walk_back_through_the_same_pages(
    api: Any, many: list[tuple[int, int, int]]
) -> None:
    pages, url = [], f"{URL}?page_size=7"
    while url:
        body = api.get(url).json()
        pages.append(body)
        url = body["next"]
    assert pages[0]["previous"] is None
    back, url = [], pages[-1]["previous"]
    while url:
        body = api.get(url).json()
        back.append(body["results"])
        url = body["previous"]
    assert back == [p["results"] for p in reversed(pages[:-1])]


def test_a_walk_while_messages_arrive_still_returns_each_one_once(
    api: Any, many: list[tuple[int, int, int]]
) -> None:
    seen: list[tuple[int, int]] = []
    url = f"{URL}?page_size=5&ordering=date"
    n = 0
    while url:
        body = api.get(url).json()
        seen += keys(body["results"])
        url = body["next"]
        # Archive one message older and one newer than anything seen so far.
        for date in (1_700_000_000 + n, 1_800_000_000 + n):
            archive_update(UpdateFactory(message__date=date))
        n += 1
    assert len(seen) == len(set(seen))
    assert {(c, m) for _, c, m in many} <= set(seen)
    dates = [get_store().get_message(*k).head.date for k in seen]  # type: ignore[union-attr]
    assert dates == sorted(dates)


def test_page_size_defaults_to_50_and_is_clamped_at_500(
    api: Any, many: list[tuple[int, int, int]]
) -> None:
    for _ in range(480):
        archive_update(UpdateFactory())
    assert len(api.get(URL).json()["results"]) == 50
    assert len(api.get(f"{URL}?page_size=100000").json()["results"]) == 500


@pytest.mark.parametrize("page_size", ["0", "-1", "ten", ""])
def test_a_bad_page_size_is_a_400(api: Any, demo: None, page_size: str) -> None:
    response = api.get(f"{URL}?page_size={page_size}")
    assert response.status_code == 400
    assert "page_size" in response.json()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "eyJrIjoiMSJ9",
        "x" * 600,
        signing.dumps({"k": "0" * 50, "r": 0, "o": "-date"}, salt="another salt"),
        signing.dumps({"k": "0" * 50, "r": 0, "o": "-date"}, key="a-forger's-key" * 4),
    ],
)
def test_a_garbled_or_forged_cursor_is_a_400(api: Any, demo: None, cursor: str) -> None:
    response = api.get(URL, {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_a_signed_cursor_with_a_bad_sort_key_is_a_400(api: Any, demo: None) -> None:
    token = encode(Cursor(sort_key="not-a-sort-key", reverse=False, ordering="-date"))
    assert api.get(URL, {"cursor": token}).status_code == 400


def test_a_cursor_from_the_other_ordering_is_a_400(api: Any, demo: None) -> None:
    next_link = api.get(f"{URL}?page_size=2&ordering=date").json()["next"]
    response = api.get(next_link.replace("ordering=date", "ordering=-date"))
    assert response.status_code == 400


def test_chats_come_in_cursor_pages_by_id_both_ways(api: Any, many: Any) -> None:
    everything = api.get("/api/v1/chats/?page_size=500").json()
    assert everything["next"] is None
    assert everything["previous"] is None
    ids = [chat["id"] for chat in everything["results"]]
    assert ids == sorted(ids)
    assert len(ids) >= 5
    forward = walk(api, "/api/v1/chats/?page_size=2")
    assert [chat["id"] for chat in forward] == ids
    first = api.get("/api/v1/chats/?page_size=2").json()
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()
    assert [c["id"] for c in back["results"]] == [c["id"] for c in first["results"]]
    assert back["previous"] is None
    forged = api.get("/api/v1/chats/?cursor=" + encode(Cursor("5", False, "id"))[:-3] + "abc")
    assert forged.status_code == 400
    assert "cursor" in forged.json()
    other = api.get("/api/v1/chats/?cursor=" + encode(Cursor("k", False, "date")))
    assert other.status_code == 400
    assert api.get("/api/v1/chats/?pagesize=2").status_code == 400  # a typo is an error
