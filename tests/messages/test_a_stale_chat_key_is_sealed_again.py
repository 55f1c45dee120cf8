"""A process whose cached chat key another process has rotated since: the store refuses what
it seals under that key, and the archive forgets the key and seals again under the active one,
for a message and a chat event alike. A key that keeps changing is a StoreError (the webhook
answers 503), and nothing is stored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from messages import sealing
from messages.keys.actions import do_rotate_chat_keys
from messages.services import archive, archive_event
from messages.stores import get_store
from messages.stores.records import PutOutcome, StoreError
from messages.telegram import IncomingMessage
from messages.telegram_events import IncomingEvent
from tests.conftest import load_update
from webhooks.updates import parse_update

CHAT = -1001234567890123  # the fixtures' group


def _message(message_id: int) -> IncomingMessage:
    message = parse_update(load_update("text_message"))
    assert isinstance(message, IncomingMessage)
    return replace(message, message_id=message_id)


def _event() -> IncomingEvent:
    event = parse_update(load_update("chat_member"))
    assert isinstance(event, IncomingEvent)
    return event


def _cache_version(version: int, key: bytes) -> None:
    """This process's cache, as it was before another process rotated the chat's key."""
    keys = sealing.chat_keys()
    keys.active_versions.set(CHAT, version)
    keys.keys.set((CHAT, version), key)


@pytest.fixture
def stale(db: None) -> tuple[int, bytes]:
    assert archive(_message(1)) is PutOutcome.CREATED
    version, key = sealing.chat_keys().active_key(CHAT)
    assert not do_rotate_chat_keys(chat_id=CHAT).failed
    _cache_version(version, key)
    return version, key


@pytest.fixture
def forgotten(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The chats whose key the archive forgot: once each time the store refused a record."""
    keys, chats = sealing.chat_keys(), []
    forget = keys.forget

    def counting(chat_id: int) -> None:
        chats.append(chat_id)
        forget(chat_id)

    monkeypatch.setattr(keys, "forget", counting)
    return chats


def test_a_message_sealed_under_a_rotated_key_is_sealed_again(
    stale: tuple[int, bytes], forgotten: list[int]
) -> None:
    assert archive(_message(2)) is PutOutcome.CREATED
    assert forgotten == [CHAT]  # refused once, under the stale key
    history = get_store().get_message(CHAT, 2)
    assert history is not None
    assert history.head.key_version == stale[0] + 1


def test_an_event_sealed_under_a_rotated_key_is_sealed_again(
    stale: tuple[int, bytes], forgotten: list[int]
) -> None:
    assert archive_event(_event()) is PutOutcome.CREATED
    assert forgotten == [CHAT]
    [event] = get_store().iter_events(CHAT)
    assert event.key_version == stale[0] + 1


def test_a_key_that_keeps_changing_is_a_store_error(
    stale: tuple[int, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = sealing.chat_keys()
    forget = keys.forget

    def forget_and_go_stale_again(chat_id: int) -> None:  # rotated again each time
        forget(chat_id)
        _cache_version(*stale)

    monkeypatch.setattr(keys, "forget", forget_and_go_stale_again)
    with pytest.raises(StoreError, match="kept changing"):
        archive(_message(3))
    with pytest.raises(StoreError, match="kept changing"):
        archive_event(_event())
    assert get_store().get_message(CHAT, 3) is None
    assert list(get_store().iter_events(CHAT)) == []
