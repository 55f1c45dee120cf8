"""The webhook fuzz suite: real-shaped Telegram updates, mutated (types, ranges, depth,
duplicate keys, encodings, truncation), posted to the webhook. For every body:

- a 2xx only if the update is then fully readable, through the API and the admin;
- otherwise a 4xx, and then nothing is stored;
- never a 5xx (no fault is injected here; the fault suite covers outages);
- a message archived with a file has its media record (so the file is fetched), and a
  refused one left none.

Bounded for ``make test``: 150 examples a test, well under a minute, from a fixed seed so that
a gate never fails on a new random draw. ``make fuzz`` (the nightly) draws afresh,
GROUPIE_FUZZ_EXAMPLES=5000; a failure there prints the falsifying body to add as a case.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from messages.models import Chat, ChatKey, MediaFile, Message, MessageRevision
from messages.telegram import IncomingMessage
from messages.telegram_events import IncomingEvent
from tests.conftest import FIXTURES, Webhook, staff_client
from webhooks.updates import ARCHIVED_EVENTS, ARCHIVED_UPDATES, parse_update

EXAMPLES = int(os.environ.get("GROUPIE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize="GROUPIE_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ARCHIVED_FIXTURES = sorted(
    path.stem
    for path in FIXTURES.glob("*.json")
    if {*ARCHIVED_UPDATES, *ARCHIVED_EVENTS} & json.loads(path.read_text(encoding="utf-8")).keys()
)

ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
)
texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\x00\n"),
    max_size=20,
)
scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False) | texts
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key or index path in a JSON value, the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return document


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """One real fixture, mutated once or twice, serialised (and maybe mangled as bytes)."""
    name = draw(st.sampled_from(ARCHIVED_FIXTURES))
    update = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        paths = _paths(update)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "set", "delete", "nest"]))
        if action == "set":
            update = _set(update, path, draw(values))
        elif action == "delete":
            update = _delete(update, path)
        else:
            depth = draw(st.sampled_from([2, 10, 30, 33, 200, 950]))
            update = _set(update, path, json.loads("[" * depth + "0" + "]" * depth))
    body = json.dumps(update, ensure_ascii=draw(st.booleans())).encode()
    return draw(_mangled(body))


@st.composite
def _mangled(draw: st.DrawFn, body: bytes) -> bytes:
    how = draw(st.sampled_from(["none", "none", "none", "truncate", "duplicate", "bytes", "big"]))
    if how == "truncate":
        return body[: draw(st.integers(min_value=0, max_value=max(0, len(body) - 1)))]
    if how == "duplicate" and b'"message_id": ' in body:
        return body.replace(b'"message_id": ', b'"message_id": 1, "message_id": ', 1)
    if how == "bytes":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\\ud800", b"\x00"]))
        return body[:at] + junk + body[at:]
    if how == "big":
        return body.replace(b"0", b"1e400", 1)
    return body


def _stored() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Message, MessageRevision, Chat, ChatKey, MediaFile))


def _poisoned_photo(**largest: object) -> bytes:
    """The adversarial probe's N1: a photo whose largest size holds a value no column takes."""
    update = json.loads((FIXTURES / "photo_with_caption.json").read_text(encoding="utf-8"))
    update["message"]["photo"][-1].update(largest)
    return json.dumps(update).encode()


def _file_recorded(body: bytes) -> None:
    incoming = parse_update(json.loads(body))
    if not isinstance(incoming, IncomingMessage):
        assert isinstance(incoming, IncomingEvent)  # a chat event carries no file
        return
    if incoming.media is not None:
        record = MediaFile.objects.filter(
            chat_id=incoming.chat_id,
            message_id=incoming.message_id,
            file_unique_id=incoming.media.file_unique_id,
        )
        assert record.exists(), "archived without its file's record: it would never be fetched"


def _message_ref(body: bytes) -> tuple[int, int]:
    update = json.loads(body)
    message = next(update[k] for k in (*ARCHIVED_UPDATES, *ARCHIVED_EVENTS) if k in update)
    return message["chat"]["id"], message.get("message_id", 0)


def _fully_readable(api: Any, admin: Client, chat_id: int, message_id: int) -> None:
    if message_id == 0 or api.get(f"/api/v1/messages/{chat_id}:{message_id}/").status_code == 404:
        # A chat event: its chat's events, and (a reaction) the message it is on if archived.
        events = api.get(f"/api/v1/chats/{chat_id}/events/")
        assert events.status_code == 200, events.content[:300]
        assert all(e["error"] is None for e in events.json()["results"])
        assert admin.get(f"/admin/archive/browsablechat/{chat_id}/").status_code in (200, 302)
        return
    detail = api.get(f"/api/v1/messages/{chat_id}:{message_id}/")
    assert detail.status_code == 200, detail.content[:300]
    assert detail.json()["error"] is None
    json.loads(detail.content, parse_constant=lambda name: pytest.fail(f"{name} in the API"))
    assert api.get("/api/v1/messages/", {"chat": chat_id}).status_code == 200
    page = admin.get(f"/admin/archive/browsablechat/{chat_id}/{message_id}/")
    assert page.status_code == 200
    assert admin.get(f"/admin/archive/browsablechat/{chat_id}/").status_code == 200


@pytest.fixture
def readers(api: Any) -> tuple[Any, Client]:
    return api, staff_client(decrypt=True)


@FUZZ
@given(body=mutated_bodies())
@example(body=_poisoned_photo(file_size=2**63))
@example(body=_poisoned_photo(file_id="AgACAgQAAxkB\x00AAICsnkCYMd0"))
def test_every_mutated_update_is_archived_readably_or_refused(
    webhook: Webhook, readers: tuple[Any, Client], body: bytes
) -> None:
    before = _stored()
    response = webhook.post(body)
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 300:
        assert 400 <= response.status_code < 500
        assert _stored() == before
        return
    outcome = response.json()
    if "ignored" in outcome:
        assert _stored() == before
        return
    assert outcome["outcome"] in {"created", "revised", "duplicate"}
    _fully_readable(*readers, *_message_ref(body))
    _file_recorded(body)


def test_the_fuzz_starts_from_every_archived_fixture() -> None:
    assert len(ARCHIVED_FIXTURES) >= 20
    assert {"text_message", "photo_with_caption", "edited_message", "channel_post"} <= set(
        ARCHIVED_FIXTURES
    )
    assert set(ARCHIVED_EVENTS) <= set(ARCHIVED_FIXTURES)


def test_the_mutations_reach_every_outcome() -> None:
    """The strategy is not degenerate: it makes bodies that are archived and bodies that are
    refused (checked on a sample, without posting them)."""
    from webhooks.updates import InvalidUpdate, parse_update

    seen: set[str] = set()

    @settings(max_examples=200, database=None, deadline=None)
    @given(body=mutated_bodies())
    def sample(body: bytes) -> None:
        try:
            parse_update(json.loads(body))
            seen.add("parsed")
        except (ValueError, InvalidUpdate, RecursionError):
            seen.add("refused")

    sample()
    assert seen == {"parsed", "refused"}
