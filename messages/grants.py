"""Granting and revoking who reads which chats (``ChatAccess``; see ``messages.access``).

``do_grant_chat_access`` and ``do_revoke_chat_access`` are the operator actions behind
``grant_chat_access`` and the admin's grant pages: they validate (the user or group exists,
each chat is in the archive), change the grants, and write one audit entry per chat (or one
for "every chat") in the same transaction; ``audit.record_action`` counts them. A refusal
changes nothing. Who may call them is the caller's check: in the admin,
``archive.manage_chat_access`` (superusers have it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.http import HttpRequest

from messages import audit
from messages.models import ChatAccess
from messages.outcome import Refused
from messages.stores import get_store


def do_grant_chat_access(
    *,
    user: User | None = None,
    group: Group | None = None,
    chat_ids: Iterable[int] = (),
    all_chats: bool = False,
    request: HttpRequest | None = None,
) -> list[ChatAccess]:
    """Lets ``user`` (or every member of ``group``) read ``chat_ids`` (or every chat, with
    ``all_chats``); returns the grants made (one already held is not made twice, nor audited).
    Refuses (Refused) a chat not in the archive."""
    chats = _chosen(user, group, chat_ids, all_chats)
    if not all_chats:
        store = get_store()
        missing = [c for c in chats if c is not None and store.get_chat(c) is None]
        if missing:
            raise Refused(
                f"no chat {', '.join(map(str, missing))} in the archive: nothing was granted "
                "(the chats' ids are on the admin's chat list)"
            )
    made = []
    by = _actor(request)
    with transaction.atomic():
        for chat_id in chats:
            grant, created = ChatAccess.objects.get_or_create(
                user=user, group=group, chat_id=chat_id, defaults={"granted_by": by}
            )
            if created:
                made.append(grant)
                _audit("grant_chat_access", grant, request)
    return made


def do_revoke_chat_access(
    *,
    user: User | None = None,
    group: Group | None = None,
    chat_ids: Iterable[int] = (),
    all_chats: bool = False,
    request: HttpRequest | None = None,
) -> int:
    """Takes back the grants named (a chat's, or the "every chat" one with ``all_chats``);
    returns how many there were. Takes effect on the next request: nothing is cached."""
    chats = _chosen(user, group, chat_ids, all_chats)
    revoked = 0
    with transaction.atomic():
        for chat_id in chats:
            for grant in ChatAccess.objects.select_for_update().filter(
                user=user, group=group, chat_id=chat_id
            ):
                _audit("revoke_chat_access", grant, request)
                grant.delete()
                revoked += 1
    return revoked


def do_revoke_grants(grants: Iterable[ChatAccess], *, request: HttpRequest | None = None) -> int:
    """Takes back these grants (the admin's delete), each audited."""
    revoked = 0
    with transaction.atomic():
        for grant in grants:
            _audit("revoke_chat_access", grant, request)
            grant.delete()
            revoked += 1
    return revoked


def _chosen(
    user: User | None, group: Group | None, chat_ids: Iterable[int], all_chats: bool
) -> list[int | None]:
    if (user is None) == (group is None):
        raise Refused("name either a user or a group (--group NAME)")
    chats = sorted(set(chat_ids))
    if all_chats and chats:
        raise Refused("give chat ids or --all-chats, not both")
    if not all_chats and not chats:
        raise Refused("give one or more chat ids, or --all-chats")
    return [None] if all_chats else list(chats)


def _actor(request: HttpRequest | None) -> str:
    if request is not None and getattr(request, "user", None) is not None:
        return str(request.user.get_username())
    return "manage.py"


def _audit(action: str, grant: ChatAccess, request: HttpRequest | None) -> None:
    who = f"user {grant.user.get_username()}" if grant.user else f"group {grant.group}"
    fields: dict[str, Any] = {"to": who, "chats": grant.chat_id or "every chat"}
    audit.record_action(action, request=request, chat_id=grant.chat_id, filters=fields)
