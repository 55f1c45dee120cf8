"""FirestoreStore's chat events (``base.ChatEvents``): ``chat_events/{chat_id}:{sort_key}``,
one document per event (chat_id, event_id, kind, date, message_id, sort_key, key_version,
envelope). A put is a transaction that reads the chat-key document and the event's own, so a
redelivery finds it and writes nothing, and a key rotated or shredded meanwhile refuses it.
Pages are the one range filter on ``sort_key`` beside equality filters on chat_id and kind or
message_id (indexes in firestore.indexes.json); ``message_ids`` go by Firestore's 30 a query,
and each query's page is merged in order."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Sequence
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from crypto.chatkeys import ACTIVE
from messages.stores.records import (
    ChatSnapshot,
    EventPage,
    EventQuery,
    EventReseal,
    InactiveChatKey,
    PutOutcome,
    SealedEvent,
    event_sort_key,
)

IN_LIMIT = 30  # Firestore's limit on the values of one "in" filter
DELETE_BATCH = 500
RESEAL_BATCH = 400  # event reseals per transaction (one read and one write each)
_FIELDS = ("chat_id", "event_id", "kind", "date", "message_id", "key_version", "envelope")


class FirestoreChatEvents:
    client: Any
    _firestore: Any

    @property
    def event_docs(self) -> Any:
        return self.client.collection("chat_events")

    def _put_event(self, event: SealedEvent) -> PutOutcome:
        ref = self.event_docs.document(f"{event.chat_id}:{event.sort_key}")
        key_ref = self.client.collection("chat_keys").document(
            f"{event.chat_id}:{event.key_version}"
        )

        def put(transaction: Any) -> PutOutcome:
            found = {s.reference.path: s for s in transaction.get_all([ref, key_ref])}
            if found[ref.path].exists:
                return PutOutcome.DUPLICATE
            key = found[key_ref.path]
            if not (key.exists and (key.to_dict() or {}).get("state") == ACTIVE):
                raise InactiveChatKey(
                    f"chat {event.chat_id} key version {event.key_version} is no longer active"
                )
            document = {name: getattr(event, name) for name in _FIELDS}
            transaction.create(ref, {**document, "sort_key": event.sort_key})
            # Its log leaf in the same commit (as a revision's): never stored without it.
            pending = event.pending_leaf(time.time_ns() // 1000)
            if pending is not None:
                leaf = {"key": pending.key, "leaf": pending.leaf, "created": pending.created}
                transaction.set(
                    self.client.collection("pending_leaves").document(pending.key), leaf
                )
            return PutOutcome.CREATED

        outcome: PutOutcome = self._firestore.transactional(put)(self.client.transaction())
        return outcome

    def _query_events(self, query: EventQuery) -> EventPage:
        base = self.event_docs.where(filter=FieldFilter("chat_id", "==", query.chat_id))
        if query.after is not None:
            op = "<" if query.descending else ">"
            base = base.where(filter=FieldFilter("sort_key", op, query.after))
        # One equality or "in" filter per query beside chat_id (each pairing has its index).
        if query.message_ids:
            ids = sorted(set(query.message_ids))
            chunks = [ids[i : i + IN_LIMIT] for i in range(0, len(ids), IN_LIMIT)]
            queries = [base.where(filter=FieldFilter("message_id", "in", c)) for c in chunks]
        else:
            queries = [base]
        if query.kinds:
            queries = [
                q.where(filter=FieldFilter("kind", "==", kind))
                for q in queries
                for kind in sorted(set(query.kinds))
            ]
        direction = "DESCENDING" if query.descending else "ASCENDING"
        streams = [
            [
                _event(s.to_dict())
                for s in q.order_by("sort_key", direction=direction).limit(query.limit + 1).stream()
            ]
            for q in queries
        ]
        merged = heapq.merge(*streams, key=lambda e: e.sort_key, reverse=query.descending)
        # Each query found at most limit + 1: the merged first limit + 1 are the page's.
        found = list(itertools.islice(merged, query.limit + 1))
        if query.message_ids:
            wanted = set(query.message_ids)
            found = [e for e in found if e.message_id in wanted]
        return EventPage(items=found[: query.limit], has_more=len(found) > query.limit)

    def _note_event_chat(self, chat: ChatSnapshot, date: int) -> None:
        ref = self.client.collection("chats").document(str(chat.chat_id))

        def upsert(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                created = {
                    "chat_id": chat.chat_id,
                    "type": chat.type,
                    "sealed_title": chat.sealed_title,
                }
                dates = {"first_date": date, "last_date": date}
                links = {"migrated_to_chat_id": None, "migrated_from_chat_id": None}
                transaction.set(ref, {**created, **dates, **links})
                return
            held: Any = snapshot.to_dict()
            changes: dict[str, Any] = {
                "type": chat.type,
                "first_date": min(held["first_date"], date),
                "last_date": max(held["last_date"], date),
            }
            if chat.sealed_title is not None and date >= held["last_date"]:
                changes["sealed_title"] = chat.sealed_title
            transaction.update(ref, changes)

        self._firestore.transactional(upsert)(self.client.transaction())

    def _count_events(self, chat_id: int, key_versions: set[int]) -> dict[int, int]:
        counts = {}
        chat = self.event_docs.where(filter=FieldFilter("chat_id", "==", chat_id))
        for version in sorted(key_versions):
            query = chat.where(filter=FieldFilter("key_version", "==", version))
            [[aggregate]] = query.count().get()
            if aggregate.value:
                counts[version] = int(aggregate.value)
        return counts

    def _replace_event_envelopes(self, chat_id: int, reseals: Sequence[EventReseal]) -> int:
        changed = 0
        for start in range(0, len(reseals), RESEAL_BATCH):
            batch = reseals[start : start + RESEAL_BATCH]
            done: int = self._firestore.transactional(self._reseal_events)(
                self.client.transaction(), chat_id, batch
            )
            changed += done
        return changed

    def _reseal_events(self, transaction: Any, chat_id: int, reseals: Sequence[EventReseal]) -> int:
        refs = {r.sort_key: self.event_docs.document(f"{chat_id}:{r.sort_key}") for r in reseals}
        held = {s.reference.path: s for s in transaction.get_all(list(refs.values()))}
        changed = 0
        for reseal in reseals:
            ref = refs[reseal.sort_key]
            snapshot = held.get(ref.path)
            # Only where the event still holds what was opened: a compare-and-set.
            if snapshot is None or not snapshot.exists:
                continue
            if bytes((snapshot.to_dict() or {})["envelope"]) != reseal.old:
                continue
            transaction.update(ref, {"envelope": reseal.new, "key_version": reseal.key_version})
            changed += 1
        return changed

    def _delete_events(self, chat_id: int, before: int | None) -> int:
        rows = self.event_docs.where(filter=FieldFilter("chat_id", "==", chat_id))
        if before is not None:
            rows = rows.where(filter=FieldFilter("sort_key", "<", event_sort_key(before, 0)))
        deleted = 0
        while True:
            page = list(rows.limit(DELETE_BATCH).stream())
            if not page:
                return deleted
            batch = self.client.batch()
            for snapshot in page:
                batch.delete(snapshot.reference)
            batch.commit()
            deleted += len(page)


def _event(data: Any) -> SealedEvent:
    return SealedEvent(
        **{name: data[name] for name in _FIELDS[:-1]}, envelope=bytes(data["envelope"])
    )
