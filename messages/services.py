"""The archive's one write path. The webhook, poll_updates, load_demo and imports all call
``archive``; nothing after it sees plaintext."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.signals import setting_changed
from django.db import transaction

from crypto.cache import TTLCache
from crypto.envelope import event_identity, message_identity, title_identity
from groupie import metrics
from messages import sealing, sortkey
from messages.reading import fields
from messages.search import index as search_index
from messages.stores import get_store
from messages.stores.records import (
    ChatSnapshot,
    InactiveChatKey,
    PutOutcome,
    SealedEvent,
    SealedMessage,
    StoreError,
)
from messages.telegram import IncomingMessage
from messages.telegram_events import IncomingEvent
from messages.transparency import leaves

_SEAL_ATTEMPTS = 3
T = TypeVar("T")
# What this process last wrote to each chat's directory entry: (chat-key version, type, title
# digest, oldest date seen). Entries expire after a minute, so the directory's first and last
# dates are at most a minute (per process) behind; counts come from the messages themselves.
_Entry = tuple[int, str, bytes, int]
DIRECTORY_SECONDS = 60
_directory: TTLCache[_Entry] = TTLCache(DIRECTORY_SECONDS, 20_000)


def _forget_directory(*, setting: str, **kwargs: Any) -> None:
    # Another store or keyring is another archive: what was written to the last one says
    # nothing of this one.
    if setting in {"GROUPIE_STORE", "GROUPIE_KEYRING"}:
        _directory.clear()


setting_changed.connect(_forget_directory)


def sealed_plaintext(message: Mapping[str, Any]) -> bytes:
    """The bytes sealed for a message: the whole Telegram message object as compact JSON."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def archive(
    incoming: IncomingMessage,
    *,
    update_id: int | None = None,
    then: Callable[[], object] | None = None,
) -> PutOutcome:
    """Seals one Telegram message revision and stores it durably, with ``update_id`` (the
    Update that brought it) noted as taken in and ``then``, a write that belongs with it
    (MessageStore.put_message says how both are written).

    Idempotent: a replay returns DUPLICATE and changes nothing. Raises StoreError or
    KeyringError when either backend fails; nothing is stored half way then."""
    with metrics.ARCHIVE_SECONDS.time():
        store = get_store()

        def seal_and_put() -> tuple[SealedMessage, PutOutcome]:
            sealed = _sealed(incoming)
            return sealed, store.put_message(sealed, update_id=update_id, then=then)

        sealed, outcome = _stored_under_the_active_key(incoming.chat_id, seal_and_put)
        if sealed.chat.changed and outcome is not PutOutcome.DUPLICATE:
            # Remembered once it is durable: inside a caller's transaction that may still roll
            # back, only when that commits (at once otherwise). A replay wrote nothing.
            entry = _directory_entry(incoming, sealed.key_version)
            transaction.on_commit(lambda: _directory.set(incoming.chat_id, entry))
        # Link after the message is stored: a failure here is a 503, the redelivery finds the
        # message already stored and links again.
        if incoming.migrate_to_chat_id is not None:
            store.link_chats(incoming.chat_id, incoming.migrate_to_chat_id)
        if incoming.migrate_from_chat_id is not None:
            store.link_chats(incoming.migrate_from_chat_id, incoming.chat_id)
        return outcome


def _stored_under_the_active_key(
    chat_id: int, seal_and_put: Callable[[], tuple[T, PutOutcome]]
) -> tuple[T, PutOutcome]:
    """``seal_and_put()``, sealed again when the store refuses the record because another
    process rotated or shredded the chat's key since this one cached it (InactiveChatKey):
    the key is forgotten, so the next seal uses it as it is now. Raises StoreError when it
    kept changing."""
    for _ in range(_SEAL_ATTEMPTS):
        try:
            return seal_and_put()
        except InactiveChatKey:
            sealing.chat_keys().forget(chat_id)
    raise StoreError("the chat's key kept changing while archiving")


def _directory_entry(incoming: IncomingMessage | IncomingEvent, key_version: int) -> _Entry:
    title = (incoming.chat_title or "").encode()
    digest = hashlib.blake2b(title, digest_size=16).digest()  # not the title itself, in memory
    return key_version, incoming.chat_type, digest, incoming.date


def _changes_directory(incoming: IncomingMessage | IncomingEvent, key_version: int) -> bool:
    """Whether this message must write its chat's directory entry: the first this process has
    seen of the chat in a minute, a new type, title or key version (a chat started again after
    a shred), or a message older than any seen (a backfill moves first_date)."""
    known = _directory.get(incoming.chat_id)
    entry = _directory_entry(incoming, key_version)
    return known is None or known[:3] != entry[:3] or entry[3] < known[3]


def _sealed(incoming: IncomingMessage) -> SealedMessage:
    chat_id = incoming.chat_id
    identity = message_identity(chat_id, incoming.message_id, incoming.edit_date)
    title = incoming.chat_title
    active_version = sealing.chat_keys().active_key(chat_id)[0]
    changed = _changes_directory(incoming, active_version)
    records = [(identity, sealed_plaintext(incoming.raw))]
    if title and changed:  # sealed only when it is written
        records.append((title_identity(chat_id), title.encode()))
    tokenize = None
    if search_index.is_indexed(chat_id):
        text = fields.text(incoming.raw)

        def tokenize(key: bytes) -> frozenset[bytes]:
            return search_index.tokens_for(key, text)

    def commit(key: bytes, version: int, sealed_message: bytes) -> bytes:
        # The revision's log leaf: its identity, its envelope's digest and a commitment to
        # its content under a key derived from the chat key (docs/transparency.md).
        return leaves.record_leaf(
            key,
            version,
            chat_id=chat_id,
            message_id=incoming.message_id,
            edit_date=incoming.edit_date,
            envelope=sealed_message,
            message=incoming.raw,
        )

    key_version, sealed, tokens, leaf = sealing.seal_all(chat_id, records, tokenize, commit)
    return SealedMessage(
        chat=ChatSnapshot(
            chat_id=chat_id,
            type=incoming.chat_type,
            sealed_title=sealed[1] if len(sealed) > 1 else None,
            changed=changed or key_version != active_version,
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
        search_tokens=tokens,
        leaf=leaf,
    )


def archive_event(incoming: IncomingEvent) -> PutOutcome:
    """Seals one chat event (a reaction, reaction totals, a membership change: the whole
    Telegram object) and stores it durably. Idempotent: a redelivered update is a DUPLICATE
    and changes nothing. Raises StoreError or KeyringError when either backend fails.

    The chat's directory entry is written as a message's is (type, sealed title, dates; no
    message counted), so a chat whose first update is an event (the bot added to it) is
    listed at once."""
    with metrics.ARCHIVE_SECONDS.time():
        store = get_store()

        def seal_and_put() -> tuple[tuple[bool, SealedEvent, bytes | None], PutOutcome]:
            sealed = _sealed_event(incoming)
            return sealed, store.put_event(sealed[1])

        (changed, event, title), outcome = _stored_under_the_active_key(
            incoming.chat_id, seal_and_put
        )
        if changed:
            # After the event (whose put checked the key active), whatever its outcome: a
            # redelivery after this failed writes it then.
            chat = ChatSnapshot(incoming.chat_id, incoming.chat_type, title)
            store.note_event_chat(chat, incoming.date)
            entry = _directory_entry(incoming, event.key_version)
            transaction.on_commit(lambda: _directory.set(incoming.chat_id, entry))
        return outcome


def _sealed_event(incoming: IncomingEvent) -> tuple[bool, SealedEvent, bytes | None]:
    """The event sealed, whether the chat's directory entry needs writing, and the chat's
    title sealed for it (when it does and the chat has one), under the same key version."""
    chat_id = incoming.chat_id
    identity = event_identity(chat_id, incoming.kind, incoming.update_id, incoming.date)
    active_version = sealing.chat_keys().active_key(chat_id)[0]
    changed = _changes_directory(incoming, active_version)
    records = [(identity, sealed_plaintext(incoming.raw))]
    if incoming.chat_title and changed:  # sealed only when it is written
        records.append((title_identity(chat_id), incoming.chat_title.encode()))

    def commit(key: bytes, version: int, sealed_event: bytes) -> bytes:
        # The event's log leaf, as a revision's (docs/transparency.md).
        return leaves.event_leaf(
            key,
            version,
            chat_id=chat_id,
            kind=incoming.kind,
            event_id=incoming.update_id,
            date=incoming.date,
            envelope=sealed_event,
            event=incoming.raw,
        )

    key_version, [envelope, *title], _, leaf = sealing.seal_all(chat_id, records, commit=commit)
    event = SealedEvent(
        chat_id=chat_id,
        kind=incoming.kind,
        event_id=incoming.update_id,
        date=incoming.date,
        message_id=incoming.message_id,
        key_version=key_version,
        envelope=envelope,
        leaf=leaf,
    )
    return changed or key_version != active_version, event, title[0] if title else None
