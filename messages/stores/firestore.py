"""FirestoreStore: the store contract on Google Cloud Firestore.

Documents (all top-level collections, so no collection-group queries are needed):

- ``chats/{chat_id}``: type, sealed_title, first_date, last_date, message_count, migration links;
- ``messages/{chat_id}:{message_id}``: the head (index fields, envelope, version_count, sort_key);
- ``revisions/{chat_id}:{message_id}:{edit_date}``: one per revision (envelope);
- ``chat_keys/{chat_id}:{version}``: wrapped chat keys.

A put is one transaction (reads of the revision, head and chat documents, then the writes),
so a replay finds its revision and changes nothing. Pages are the one range filter on
``sort_key`` beside equality filters, ordered by ``sort_key``: the composite indexes this needs
are in firestore.indexes.json. Nothing here sees plaintext.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from google.api_core import exceptions as google_errors

from crypto.chatkeys import ChatKeyRecord
from messages import sortkey
from messages.stores.base import (
    HEAD_FIELDS,
    ChatRecord,
    DeleteResult,
    MessageHistory,
    MessageId,
    MessageQuery,
    MessageStore,
    Page,
    PutOutcome,
    SealedMessage,
    StoredMessage,
    StoredRevision,
    StoreError,
)

IN_LIMIT = 30  # Firestore's limit on the values of one "in" filter
BATCH_LIMIT = 500  # and on the writes of one batch
_STORED_FIELDS = tuple(f.name for f in fields(StoredMessage))


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except google_errors.GoogleAPICallError as exc:
        raise StoreError(f"Firestore error: {type(exc).__name__}") from exc


class FirestoreStore(MessageStore):
    def __init__(self, *, project: str = "", database: str = "(default)") -> None:
        from google.cloud import firestore

        self._firestore = firestore
        # FIRESTORE_EMULATOR_HOST, when set, is honoured by the client itself.
        self.client = firestore.Client(project=project or None, database=database or None)
        self.chats = self.client.collection("chats")
        self.messages = self.client.collection("messages")
        self.revisions = self.client.collection("revisions")
        self.chat_keys = self.client.collection("chat_keys")

    # -- writes -------------------------------------------------------------------------------

    def put_message(self, message: SealedMessage) -> PutOutcome:
        transactional = self._firestore.transactional

        @transactional
        def put(transaction: Any) -> PutOutcome:
            return self._put(transaction, message)

        with _errors():
            outcome: PutOutcome = put(self.client.transaction())
        return outcome

    def _put(self, transaction: Any, message: SealedMessage) -> PutOutcome:
        chat_id, message_id = message.chat_id, message.message_id
        revision_ref = self.revisions.document(f"{chat_id}:{message_id}:{message.edit_date}")
        head_ref = self.messages.document(f"{chat_id}:{message_id}")
        chat_ref = self.chats.document(str(chat_id))
        revision, head, chat = (
            ref.get(transaction=transaction) for ref in (revision_ref, head_ref, chat_ref)
        )
        if revision.exists:
            return PutOutcome.DUPLICATE
        transaction.create(
            revision_ref,
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "edit_date": message.edit_date,
                "envelope": message.envelope,
            },
        )
        fresh = {name: getattr(message, name) for name in HEAD_FIELDS}
        if head.exists:
            current: Any = head.to_dict()
            changes: dict[str, Any] = {
                "version_count": current["version_count"] + 1,
                "edited": True,
            }
            if message.edit_date > current["edit_date"]:
                changes.update(fresh)
            transaction.update(head_ref, changes)
        else:
            transaction.set(
                head_ref,
                {
                    **fresh,
                    "chat_id": chat_id,
                    "message_id": message_id,
                    "sort_key": message.sort_key,
                    "version_count": 1,
                    # An equality field: Firestore takes range filters on one field (sort_key).
                    "edited": False,
                },
            )
        self._touch_chat(transaction, chat_ref, chat, message, new_message=not head.exists)
        return PutOutcome.REVISED if head.exists else PutOutcome.CREATED

    def _touch_chat(
        self,
        transaction: Any,
        ref: Any,
        snapshot: Any,
        message: SealedMessage,
        *,
        new_message: bool,
    ) -> None:
        title = message.chat.sealed_title
        if not snapshot.exists:
            transaction.set(
                ref,
                {
                    "chat_id": message.chat_id,
                    "type": message.chat.type,
                    "sealed_title": title,
                    "first_date": message.date,
                    "last_date": message.date,
                    "message_count": int(new_message),
                    "migrated_to_chat_id": None,
                    "migrated_from_chat_id": None,
                },
            )
            return
        chat: Any = snapshot.to_dict()
        changes: dict[str, Any] = {
            "type": message.chat.type,
            "first_date": min(chat["first_date"], message.date),
            "last_date": max(chat["last_date"], message.date),
            "message_count": chat["message_count"] + int(new_message),
        }
        if title is not None and message.date >= chat["last_date"]:
            changes["sealed_title"] = title
        transaction.update(ref, changes)

    def link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        with _errors():
            for chat_id, field, value in (
                (old_chat_id, "migrated_to_chat_id", new_chat_id),
                (new_chat_id, "migrated_from_chat_id", old_chat_id),
            ):
                ref = self.chats.document(str(chat_id))
                if ref.get().exists:
                    ref.update({field: value})

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        ref = self.chat_keys.document(f"{record.chat_id}:{record.version}")
        with _errors():
            try:
                ref.create(
                    {
                        "chat_id": record.chat_id,
                        "version": record.version,
                        "wrapped": record.wrapped,
                        "kek_version": record.kek_version,
                        "state": record.state,
                        "created_at": record.created_at,
                    }
                )
            except google_errors.AlreadyExists:
                return _chat_key(ref.get().to_dict())
        return record

    def delete_chat(self, chat_id: int) -> DeleteResult:
        with _errors():
            result = DeleteResult(
                messages=self._delete_where(self.messages, chat_id),
                revisions=self._delete_where(self.revisions, chat_id),
            )
            chat = self.chats.document(str(chat_id))
            if chat.get().exists:
                chat.delete()
                result.chats = 1
        return result

    def _delete_where(self, collection: Any, chat_id: int) -> int:
        deleted = 0
        while True:
            page = list(
                self._where(collection, "chat_id", "==", chat_id).limit(BATCH_LIMIT).stream()
            )
            if not page:
                return deleted
            batch = self.client.batch()
            for snapshot in page:
                batch.delete(snapshot.reference)
            batch.commit()
            deleted += len(page)

    # -- reads --------------------------------------------------------------------------------

    def _where(self, query: Any, field: str, op: str, value: Any) -> Any:
        from google.cloud.firestore_v1.base_query import FieldFilter

        return query.where(filter=FieldFilter(field, op, value))

    def get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        with _errors():
            head = self.messages.document(f"{chat_id}:{message_id}").get()
            if not head.exists:
                return None
            revisions = [
                s.to_dict()
                for s in self._where(
                    self._where(self.revisions, "chat_id", "==", chat_id),
                    "message_id",
                    "==",
                    message_id,
                ).stream()
            ]
        revisions.sort(key=lambda r: r["edit_date"])
        return MessageHistory(
            head=_stored(head.to_dict()),
            revisions=[
                StoredRevision(version=n, edit_date=r["edit_date"], envelope=bytes(r["envelope"]))
                for n, r in enumerate(revisions, start=1)
            ],
        )

    def get_messages(self, ids: Iterable[MessageId]) -> dict[MessageId, StoredMessage]:
        refs = [self.messages.document(f"{c}:{m}") for c, m in set(ids)]
        if not refs:
            return {}
        with _errors():
            found: list[Any] = [s.to_dict() for s in self.client.get_all(refs) if s.exists]
        return {(d["chat_id"], d["message_id"]): _stored(d) for d in found}

    def query(self, query: MessageQuery) -> Page:
        chats = list(query.chats)
        groups = [chats[i : i + IN_LIMIT] for i in range(0, len(chats), IN_LIMIT)] or [[]]
        with _errors():
            streams = [list(self._page_query(query, group).stream()) for group in groups]
        # More chats than one "in" filter takes: merge the per-group pages in sort_key order.
        rows = heapq.merge(
            *[[s.to_dict() for s in stream] for stream in streams],
            key=lambda d: d["sort_key"],
            reverse=query.descending,
        )
        found = [_stored(d) for _, d in zip(range(query.limit + 1), rows, strict=False)]
        return Page(items=found[: query.limit], has_more=len(found) > query.limit)

    def _page_query(self, query: MessageQuery, chats: list[int]) -> Any:
        firestore = self._firestore
        q: Any = self.messages
        if len(chats) == 1:
            q = self._where(q, "chat_id", "==", chats[0])
        elif chats:
            q = self._where(q, "chat_id", "in", chats)
        for field, value in (
            ("sender_id", query.user),
            ("thread_id", query.thread),
            ("kind", query.kind),
        ):
            if value is not None:
                q = self._where(q, field, "==", value)
        if query.edited is not None:
            q = self._where(q, "edited", "==", query.edited)
        # Every bound is on sort_key: Firestore allows range filters on one field only.
        if query.since is not None:
            q = self._where(q, "sort_key", ">=", sortkey.lowest_at(query.since))
        if query.until is not None:
            q = self._where(q, "sort_key", "<=", sortkey.highest_at(query.until))
        if query.after is not None:
            q = self._where(q, "sort_key", "<" if query.descending else ">", query.after)
        direction = firestore.Query.DESCENDING if query.descending else firestore.Query.ASCENDING
        return q.order_by("sort_key", direction=direction).limit(query.limit + 1)

    def get_chat(self, chat_id: int) -> ChatRecord | None:
        with _errors():
            snapshot = self.chats.document(str(chat_id)).get()
        return _chat(snapshot.to_dict()) if snapshot.exists else None

    def list_chats(self) -> list[ChatRecord]:
        with _errors():
            chats = [_chat(s.to_dict()) for s in self.chats.stream()]
        return sorted(chats, key=lambda c: (-c.last_date, c.chat_id))

    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        with _errors():
            keys = [
                _chat_key(s.to_dict())
                for s in self._where(self.chat_keys, "chat_id", "==", chat_id).stream()
            ]
        return sorted(keys, key=lambda k: k.version)

    def ping(self) -> None:
        with _errors():
            self.chats.document("_ping").get()


def _stored(data: Any) -> StoredMessage:
    values: dict[str, Any] = {name: data.get(name) for name in _STORED_FIELDS}
    values["envelope"] = bytes(values["envelope"])
    return StoredMessage(**values)


def _chat(data: Any) -> ChatRecord:
    title = data.get("sealed_title")
    return ChatRecord(
        chat_id=data["chat_id"],
        type=data["type"],
        first_date=data["first_date"],
        last_date=data["last_date"],
        message_count=data["message_count"],
        sealed_title=bytes(title) if title is not None else None,
        migrated_to_chat_id=data.get("migrated_to_chat_id"),
        migrated_from_chat_id=data.get("migrated_from_chat_id"),
    )


def _chat_key(data: Any) -> ChatKeyRecord:
    return ChatKeyRecord(
        chat_id=data["chat_id"],
        version=data["version"],
        wrapped=bytes(data["wrapped"]),
        kek_version=data["kek_version"],
        state=data["state"],
        created_at=data["created_at"],
    )
