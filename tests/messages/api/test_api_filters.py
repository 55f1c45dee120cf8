"""Message filters select exactly what they say; bad values are 400 with field errors."""

from __future__ import annotations

from typing import Any

import pytest

from messages.telegram import IncomingMessage
from webhooks.demo_data import demo_updates
from webhooks.updates import parse_update

URL = "/api/v1/messages/"


@pytest.fixture
def heads(demo: None) -> list[IncomingMessage]:
    """The demo's messages as the archive holds them: the latest revision of each."""
    latest: dict[tuple[int, int], IncomingMessage] = {}
    for data in demo_updates():
        incoming = parse_update(data)
        if isinstance(incoming, IncomingMessage):
            key = (incoming.chat_id, incoming.message_id)
            if key not in latest or incoming.edit_date > latest[key].edit_date:
                latest[key] = incoming
    return list(latest.values())


def listed(api: Any, query: str) -> set[tuple[int, int]]:
    response = api.get(f"{URL}?page_size=500&{query}")
    assert response.status_code == 200, response.content
    return {(r["chat_id"], r["message_id"]) for r in response.json()["results"]}


def ids(messages: list[IncomingMessage]) -> set[tuple[int, int]]:
    return {(m.chat_id, m.message_id) for m in messages}


def test_chat_filters_one_or_several_chats(api: Any, heads: list[IncomingMessage]) -> None:
    chats = sorted({m.chat_id for m in heads})
    one = [m for m in heads if m.chat_id == chats[0]]
    assert listed(api, f"chat={chats[0]}") == ids(one)
    two = [m for m in heads if m.chat_id in chats[:2]]
    assert listed(api, f"chat={chats[0]}&chat={chats[1]}") == ids(two)


def test_user_thread_and_kind_filter(api: Any, heads: list[IncomingMessage]) -> None:
    sender = next(m.sender_id for m in heads if m.sender_id)
    assert listed(api, f"user={sender}") == ids([m for m in heads if m.sender_id == sender])
    topic = next(m for m in heads if m.thread_id)
    expected = [m for m in heads if m.chat_id == topic.chat_id and m.thread_id == topic.thread_id]
    assert listed(api, f"chat={topic.chat_id}&thread={topic.thread_id}") == ids(expected)
    assert listed(api, "kind=photo") == ids([m for m in heads if m.kind == "photo"])
    assert listed(api, "kind=photo")


def test_edited_selects_messages_with_more_than_one_version(
    api: Any, heads: list[IncomingMessage]
) -> None:
    edited = ids([m for m in heads if m.edit_date])
    assert edited
    assert listed(api, "edited=true") == edited
    assert listed(api, "edited=false") == ids(heads) - edited


def test_since_and_until_are_inclusive_and_take_iso_or_unix(
    api: Any, heads: list[IncomingMessage]
) -> None:
    dates = sorted({m.date for m in heads})
    low, high = dates[3], dates[-4]
    expected = ids([m for m in heads if low <= m.date <= high])
    assert listed(api, f"since={low}&until={high}") == expected
    from messages.reading.fields import iso_date

    iso = f"since={iso_date(low)}&until={iso_date(high)}".replace("+", "%2B")
    assert listed(api, iso) == expected
    naive = iso_date(low).rstrip("Z")
    assert listed(api, f"since={naive}&until={high}") == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("chat=abc", "chat"),
        ("chat=99999999999999999999999", "chat"),
        ("user=1.5", "user"),
        ("thread=x", "thread"),
        ("since=yesterday", "since"),
        ("until=2026-13-40", "until"),
        ("since=200&until=100", "until"),
        ("kind=hologram", "kind"),
        ("edited=maybe", "edited"),
        ("ordering=name", "ordering"),
        ("chats=1", "chats"),
    ],
)
def test_bad_filter_values_are_400_naming_the_field(
    api: Any, demo: None, query: str, field: str
) -> None:
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_an_unknown_kind_is_400_listing_the_kinds(api: Any, demo: None) -> None:
    response = api.get(f"{URL}?kind=picture")
    assert response.status_code == 400
    [said] = response.json()["kind"]
    assert said.startswith('"picture" is not a kind; use one of text, animation, photo, ')
    assert said.endswith(", service, other.")
