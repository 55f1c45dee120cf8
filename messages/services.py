"""The archive's one write path. The webhook, poll_updates, load_demo and imports all call
``archive``; nothing after it sees plaintext."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from crypto.envelope import message_identity, title_identity
from groupie import metrics
from messages import sealing, sortkey
from messages.stores import get_store
from messages.stores.records import (
    ChatSnapshot,
    InactiveChatKey,
    PutOutcome,
    SealedMessage,
    StoreError,
)
from messages.telegram import IncomingMessage

_SEAL_ATTEMPTS = 3


def sealed_plaintext(message: Mapping[str, Any]) -> bytes:
    """The bytes sealed for a message: the whole Telegram message object as compact JSON."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def archive(incoming: IncomingMessage) -> PutOutcome:
    """Seals one Telegram message revision and stores it durably.

    Idempotent: a replay returns DUPLICATE and changes nothing. Raises StoreError or
    KeyringError when either backend fails; nothing is stored half way then."""
    with metrics.ARCHIVE_SECONDS.time():
        store = get_store()
        for attempt in range(1, _SEAL_ATTEMPTS + 1):
            try:
                outcome = store.put_message(_sealed(incoming))
                break
            except InactiveChatKey:
                # Another process rotated or shredded this chat's key since this one cached
                # it: the store refused the record. Seal again with the key as it is now.
                sealing.chat_keys().forget(incoming.chat_id)
                if attempt == _SEAL_ATTEMPTS:
                    raise StoreError("the chat's key kept changing while archiving") from None
        # Link after the message is stored: a failure here is a 503, the redelivery finds the
        # message already stored and links again.
        if incoming.migrate_to_chat_id is not None:
            store.link_chats(incoming.chat_id, incoming.migrate_to_chat_id)
        if incoming.migrate_from_chat_id is not None:
            store.link_chats(incoming.migrate_from_chat_id, incoming.chat_id)
        return outcome


def _sealed(incoming: IncomingMessage) -> SealedMessage:
    chat_id = incoming.chat_id
    identity = message_identity(chat_id, incoming.message_id, incoming.edit_date)
    title = incoming.chat_title
    records = [(identity, sealed_plaintext(incoming.raw))]
    if title:
        records.append((title_identity(chat_id), title.encode()))
    key_version, sealed = sealing.seal_all(chat_id, records)
    return SealedMessage(
        chat=ChatSnapshot(
            chat_id=chat_id,
            type=incoming.chat_type,
            sealed_title=sealed[1] if title else None,
        ),
        message_id=incoming.message_id,
        date=incoming.date,
        edit_date=incoming.edit_date,
        kind=incoming.kind,
        envelope=sealed[0],
        key_version=key_version,
        sort_key=sortkey.sort_key(incoming.date, chat_id, incoming.message_id),
        thread_id=incoming.thread_id,
        sender_id=incoming.sender_id,
        reply_to_message_id=incoming.reply_to_message_id,
        media_group_id=incoming.media_group_id,
    )
