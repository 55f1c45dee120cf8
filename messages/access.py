"""Which chats a user may read, and which chats are under legal hold: the questions, asked
by every surface (admin, API) and every deleting action (purge, retention, shred, media).

Reading a chat's plaintext takes two things: ``archive.view_decrypted`` (what the user may
do) and a grant (``ChatAccess``, to the user or one of their groups, for that chat or for
every chat: where). Superusers read everything. A chat a user may not read is, for them, a
chat that does not exist: the surfaces answer 404 and leave it out of lists, as they do for
an API key limited to some chats. Nothing here is cached: a revocation applies to the next
request.

The changes are actions one layer up: ``messages.grants`` and ``messages.legal_hold``."""

from __future__ import annotations

from typing import Any, Final

from django.db.models import Q

from messages.models import DECRYPT_PERMISSION, ChatAccess, LegalHold

MANAGE_ACCESS_PERMISSION = "archive.manage_chat_access"
MANAGE_HOLD_PERMISSION = "archive.manage_legal_hold"


class _AllChats:
    """Every chat: what ``readable_chats`` answers for a reader of all of them, so that
    ``chat_id in readable_chats(user)`` holds whichever the answer is."""

    def __contains__(self, chat_id: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_CHATS"


# ``readable_chats`` answers this, or the set of chat ids.
ALL_CHATS: Final = _AllChats()
Readable = _AllChats | frozenset[int]


def readable_chats(user: Any) -> Readable:
    """``ALL_CHATS``, or the ids of the chats whose plaintext ``user`` may read (empty for
    anyone without the decrypt permission, or signed out)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if getattr(user, "is_superuser", False):  # an API key's principal is none
        return ALL_CHATS
    if not user.has_perm(DECRYPT_PERMISSION):
        return frozenset()
    grants = ChatAccess.objects.filter(Q(user=user) | Q(group__in=user.groups.all()))
    if grants.filter(chat_id__isnull=True).exists():
        return ALL_CHATS
    return frozenset(c for c in grants.values_list("chat_id", flat=True) if c is not None)


def may_read_chat(user: Any, chat_id: int) -> bool:
    readable = readable_chats(user)
    return readable == ALL_CHATS or chat_id in readable


def legal_hold(chat_id: int) -> LegalHold | None:
    """The hold on the chat, or None when nothing keeps it from deletion."""
    return LegalHold.objects.filter(chat_id=chat_id).first()


def held_chats() -> dict[int, LegalHold]:
    return {hold.chat_id: hold for hold in LegalHold.objects.all()}


def hold_text(hold: LegalHold) -> str:
    """The hold in words, for a refusal or a skip: reason, since when, set by whom."""
    return (
        f"chat {hold.chat_id} is under legal hold since {hold.since:%Y-%m-%d} "
        f"(by {hold.by}: {hold.reason})"
    )
