"""The read path: fetch sealed records from the store and open them, in batches.

A record that fails to open is returned with its typed error, never as ciphertext or made-up
text, and is counted and logged (ids only) so an operator notices.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crypto.envelope import message_identity, title_identity
from crypto.errors import CryptoError
from groupie import strictjson
from messages import sealing
from messages.stores.records import ChatRecord, MessageHistory, StoredMessage, StoredRevision

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    """An opened record: the Telegram message object, or the error that prevented it."""

    message: dict[str, Any] | None
    error: CryptoError | None = None


@dataclass(frozen=True)
class OpenedMessage:
    stored: StoredMessage
    opened: Opened


@dataclass(frozen=True)
class OpenedRevision:
    stored: StoredRevision
    opened: Opened


def _decoded(chat_id: int, message_id: int, result: bytes | CryptoError) -> Opened:
    if isinstance(result, CryptoError):
        logger.warning(
            "message %s:%s failed to open: %s", chat_id, message_id, type(result).__name__
        )
        return Opened(message=None, error=result)
    return Opened(message=strictjson.loads_stored(result))


def open_messages(heads: Sequence[StoredMessage]) -> list[OpenedMessage]:
    """Opens a page of heads; each chat key is unwrapped at most once (the cache keeps it)."""
    results = sealing.open_many(
        [(message_identity(h.chat_id, h.message_id, h.edit_date), h.envelope) for h in heads]
    )
    return [
        OpenedMessage(h, _decoded(h.chat_id, h.message_id, r))
        for h, r in zip(heads, results, strict=True)
    ]


def open_history(history: MessageHistory) -> tuple[OpenedMessage, list[OpenedRevision]]:
    head = history.head
    results = sealing.open_many(
        [
            (message_identity(head.chat_id, head.message_id, r.edit_date), r.envelope)
            for r in history.revisions
        ]
    )
    revisions = [
        OpenedRevision(r, _decoded(head.chat_id, head.message_id, result))
        for r, result in zip(history.revisions, results, strict=True)
    ]
    latest = next(
        (r.opened for r in revisions if r.stored.edit_date == head.edit_date),
        open_messages([head])[0].opened,
    )
    return OpenedMessage(head, latest), revisions


def open_title(chat: ChatRecord) -> tuple[str | None, CryptoError | None]:
    if chat.sealed_title is None:
        return None, None
    [result] = sealing.open_many([(title_identity(chat.chat_id), chat.sealed_title)])
    if isinstance(result, CryptoError):
        logger.warning("chat %s title failed to open: %s", chat.chat_id, type(result).__name__)
        return None, result
    return result.decode("utf-8"), None


def open_titles(chats: Sequence[ChatRecord]) -> dict[int, str]:
    """The titles of many chats in one batch (each chat key unwrapped at most once); a chat
    without a title, or whose title fails to open, is left out."""
    sealed = [c for c in chats if c.sealed_title is not None]
    results = sealing.open_many(
        [(title_identity(c.chat_id), c.sealed_title) for c in sealed if c.sealed_title]
    )
    titles: dict[int, str] = {}
    for chat, result in zip(sealed, results, strict=True):
        if isinstance(result, CryptoError):
            logger.warning("chat %s title failed to open: %s", chat.chat_id, type(result).__name__)
        else:
            titles[chat.chat_id] = result.decode("utf-8")
    return titles
