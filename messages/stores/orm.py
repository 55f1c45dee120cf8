"""ORMStore: the store contract on Django models (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import BinaryField, Case, F, Q, Value, When
from django.db.models.functions import Greatest, Least

from crypto.chatkeys import ChatKeyRecord
from messages import sortkey
from messages.models import Chat, ChatKey, Message, MessageRevision
from messages.stores.base import (
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

_HEAD_FIELDS = (
    "date",
    "edit_date",
    "kind",
    "thread_id",
    "sender_id",
    "reply_to_message_id",
    "media_group_id",
    "envelope",
)


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        # The driver's message may quote parameters; only the class name leaves this module.
        raise StoreError(f"database error: {type(exc).__name__}") from exc


class ORMStore(MessageStore):
    def __init__(self) -> None:
        pass

    # -- writes -------------------------------------------------------------------------------

    def put_message(self, message: SealedMessage) -> PutOutcome:
        with _database_errors(), transaction.atomic():
            outcome = self._put_revision(message)
            if outcome is not PutOutcome.DUPLICATE:
                self._touch_chat(message, new_message=outcome is PutOutcome.CREATED)
            return outcome

    def _put_revision(self, message: SealedMessage) -> PutOutcome:
        natural_key = {"chat_id": message.chat_id, "message_id": message.message_id}
        head = Message.objects.select_for_update().filter(**natural_key).first()
        if head is None:
            try:
                # A savepoint, so a concurrent first delivery of the same message (PostgreSQL)
                # loses cleanly and is then treated as a revision below.
                with transaction.atomic():
                    Message.objects.create(
                        **natural_key,
                        sort_key=message.sort_key,
                        version_count=1,
                        **{name: getattr(message, name) for name in _HEAD_FIELDS},
                    )
            except IntegrityError:
                head = Message.objects.select_for_update().get(**natural_key)
            else:
                MessageRevision.objects.create(
                    **natural_key, edit_date=message.edit_date, envelope=message.envelope
                )
                return PutOutcome.CREATED
        # The head row is locked: no other transaction can add a revision of this message now.
        if MessageRevision.objects.filter(**natural_key, edit_date=message.edit_date).exists():
            return PutOutcome.DUPLICATE
        MessageRevision.objects.create(
            **natural_key, edit_date=message.edit_date, envelope=message.envelope
        )
        changes: dict[str, Any] = {"version_count": F("version_count") + 1}
        if message.edit_date > head.edit_date:
            changes.update({name: getattr(message, name) for name in _HEAD_FIELDS})
        Message.objects.filter(pk=head.pk).update(**changes)
        return PutOutcome.REVISED

    def _touch_chat(self, message: SealedMessage, *, new_message: bool) -> None:
        changes: dict[str, Any] = {
            "type": message.chat.type,
            "first_date": Least(F("first_date"), Value(message.date)),
            "last_date": Greatest(F("last_date"), Value(message.date)),
            "message_count": F("message_count") + int(new_message),
        }
        if message.chat.sealed_title is not None:
            # The newest message's view of the title wins, whatever order updates arrive in.
            changes["sealed_title"] = Case(
                When(last_date__lte=message.date, then=Value(message.chat.sealed_title)),
                default=F("sealed_title"),
                output_field=BinaryField(),
            )
        chats = Chat.objects.filter(chat_id=message.chat_id)
        if chats.update(**changes):
            return
        try:
            with transaction.atomic():
                Chat.objects.create(
                    chat_id=message.chat_id,
                    type=message.chat.type,
                    sealed_title=message.chat.sealed_title,
                    first_date=message.date,
                    last_date=message.date,
                    message_count=int(new_message),
                )
        except IntegrityError:
            chats.update(**changes)

    def link_chats(self, old_chat_id: int, new_chat_id: int) -> None:
        with _database_errors(), transaction.atomic():
            Chat.objects.filter(chat_id=old_chat_id).update(migrated_to_chat_id=new_chat_id)
            Chat.objects.filter(chat_id=new_chat_id).update(migrated_from_chat_id=old_chat_id)

    def add_chat_key(self, record: ChatKeyRecord) -> ChatKeyRecord:
        with _database_errors():
            try:
                with transaction.atomic():
                    ChatKey.objects.create(
                        chat_id=record.chat_id,
                        version=record.version,
                        wrapped=record.wrapped,
                        kek_version=record.kek_version,
                        state=record.state,
                        created_at=record.created_at,
                    )
                return record
            except IntegrityError:
                row = ChatKey.objects.get(chat_id=record.chat_id, version=record.version)
                return _chat_key_record(row)

    def delete_chat(self, chat_id: int) -> DeleteResult:
        with _database_errors(), transaction.atomic():
            revisions, _ = MessageRevision.objects.filter(chat_id=chat_id).delete()
            messages, _ = Message.objects.filter(chat_id=chat_id).delete()
            chats, _ = Chat.objects.filter(chat_id=chat_id).delete()
        return DeleteResult(messages=messages, revisions=revisions, chats=chats)

    # -- reads --------------------------------------------------------------------------------

    def get_message(self, chat_id: int, message_id: int) -> MessageHistory | None:
        with _database_errors():
            row = Message.objects.filter(chat_id=chat_id, message_id=message_id).first()
            if row is None:
                return None
            revisions = MessageRevision.objects.filter(
                chat_id=chat_id, message_id=message_id
            ).order_by("edit_date")
            return MessageHistory(head=_stored(row), revisions=_revisions(revisions))

    def get_messages(self, ids: Iterable[MessageId]) -> dict[MessageId, StoredMessage]:
        wanted = set(ids)
        if not wanted:
            return {}
        by_chat: dict[int, list[int]] = {}
        for chat_id, message_id in wanted:
            by_chat.setdefault(chat_id, []).append(message_id)
        condition = Q()
        for chat_id, message_ids in by_chat.items():
            condition |= Q(chat_id=chat_id, message_id__in=message_ids)
        with _database_errors():
            return {
                (r.chat_id, r.message_id): _stored(r) for r in Message.objects.filter(condition)
            }

    def query(self, query: MessageQuery) -> Page:
        rows = Message.objects.all()
        if len(query.chats) == 1:
            rows = rows.filter(chat_id=query.chats[0])
        elif query.chats:
            rows = rows.filter(chat_id__in=query.chats)
        if query.user is not None:
            rows = rows.filter(sender_id=query.user)
        if query.thread is not None:
            rows = rows.filter(thread_id=query.thread)
        if query.kind is not None:
            rows = rows.filter(kind=query.kind)
        if query.edited is not None:
            rows = (
                rows.filter(version_count__gt=1) if query.edited else rows.filter(version_count=1)
            )
        if query.since is not None:
            rows = rows.filter(sort_key__gte=sortkey.lowest_at(query.since))
        if query.until is not None:
            rows = rows.filter(sort_key__lte=sortkey.highest_at(query.until))
        if query.after is not None:
            after = "sort_key__lt" if query.descending else "sort_key__gt"
            rows = rows.filter(**{after: query.after})
        rows = rows.order_by("-sort_key" if query.descending else "sort_key")
        with _database_errors():
            found = [_stored(r) for r in rows[: query.limit + 1]]
        return Page(items=found[: query.limit], has_more=len(found) > query.limit)

    def get_chat(self, chat_id: int) -> ChatRecord | None:
        with _database_errors():
            row = Chat.objects.filter(chat_id=chat_id).first()
        return _chat_record(row) if row else None

    def list_chats(self) -> list[ChatRecord]:
        with _database_errors():
            return [_chat_record(r) for r in Chat.objects.order_by("-last_date", "chat_id")]

    def get_chat_keys(self, chat_id: int) -> list[ChatKeyRecord]:
        with _database_errors():
            rows = ChatKey.objects.filter(chat_id=chat_id).order_by("version")
            return [_chat_key_record(r) for r in rows]

    def iter_messages(
        self, chat_id: int | None = None, batch_size: int = 500
    ) -> Iterator[MessageHistory]:
        after: str | None = None
        while True:
            page = self.query(
                MessageQuery(
                    chats=(chat_id,) if chat_id is not None else (),
                    descending=False,
                    after=after,
                    limit=batch_size,
                )
            )
            for head in page.items:
                history = self.get_message(head.chat_id, head.message_id)
                if history is not None:
                    yield history
            if not page.has_more:
                return
            after = page.items[-1].sort_key

    def ping(self) -> None:
        with _database_errors(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def _stored(row: Message) -> StoredMessage:
    return StoredMessage(
        chat_id=row.chat_id,
        message_id=row.message_id,
        date=row.date,
        edit_date=row.edit_date,
        kind=row.kind,
        envelope=bytes(row.envelope),
        sort_key=row.sort_key,
        version_count=row.version_count,
        thread_id=row.thread_id,
        sender_id=row.sender_id,
        reply_to_message_id=row.reply_to_message_id,
        media_group_id=row.media_group_id,
    )


def _revisions(rows: Iterable[MessageRevision]) -> list[StoredRevision]:
    return [
        StoredRevision(version=number, edit_date=r.edit_date, envelope=bytes(r.envelope))
        for number, r in enumerate(rows, start=1)
    ]


def _chat_record(row: Chat) -> ChatRecord:
    return ChatRecord(
        chat_id=row.chat_id,
        type=row.type,
        first_date=row.first_date,
        last_date=row.last_date,
        message_count=row.message_count,
        sealed_title=bytes(row.sealed_title) if row.sealed_title is not None else None,
        migrated_to_chat_id=row.migrated_to_chat_id,
        migrated_from_chat_id=row.migrated_from_chat_id,
    )


def _chat_key_record(row: ChatKey) -> ChatKeyRecord:
    return ChatKeyRecord(
        chat_id=row.chat_id,
        version=row.version,
        wrapped=bytes(row.wrapped),
        kek_version=row.kek_version,
        state=row.state,
        created_at=row.created_at,
    )
