"""Who may read what in the admin: one decision, made here and nowhere else.

Every admin page that shows a chat's plaintext (titles, names, text, files, thumbnails,
exports) asks ``may_read``; every page or list that names chats asks ``may_see`` or
``visible_chats``. Reading needs the decrypt permission and a grant for the chat
(``messages.access``, which the API asks too). A reader limited to some chats does not see
the others at all: their pages are 404 and lists leave them out, as for an API key limited to
some chats. Staff without the decrypt permission read nothing and browse every chat's
metadata (ids, dates, counts), as before grants existed."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from messages import access
from messages.access import ALL_CHATS, Readable
from messages.models import DECRYPT_PERMISSION

__all__ = ["ALL_CHATS", "DECRYPT_PERMISSION", "may_read", "readable_chats"]


def readable_chats(user: Any) -> Readable:
    """``ALL_CHATS`` or the ids of the chats ``user`` may read decrypted."""
    return access.readable_chats(user)


def _readable(request: HttpRequest) -> Readable:
    # Asked several times by one page: once per request (a revocation applies to the next).
    cached: Readable | None = getattr(request, "_groupie_readable", None)
    if cached is None:
        cached = readable_chats(getattr(request, "user", None))
        request._groupie_readable = cached  # type: ignore[attr-defined]
    return cached


def may_read(request: HttpRequest, chat_id: int | None = None) -> bool:
    """Whether the signed-in user may see ``chat_id``'s plaintext; with None, whether they may
    read decrypted content at all (the pages' switch between metadata and plaintext)."""
    user = getattr(request, "user", None)
    if user is None or not user.has_perm(DECRYPT_PERMISSION):
        return False
    readable = _readable(request)
    if chat_id is None:
        return True
    return readable == ALL_CHATS or chat_id in readable


def visible_chats(request: HttpRequest) -> Readable:
    """The chats whose pages exist for this user: a reader's readable chats; every chat for
    staff who read nothing (they see metadata only)."""
    user = getattr(request, "user", None)
    if user is None or not user.has_perm(DECRYPT_PERMISSION):
        return ALL_CHATS
    return _readable(request)


def may_see(request: HttpRequest, chat_id: int) -> bool:
    """Whether ``chat_id`` exists for this user (else: 404, left out of lists)."""
    visible = visible_chats(request)
    return visible == ALL_CHATS or chat_id in visible


def scoped(request: HttpRequest, rows: QuerySet[Any], *, keep_none: bool = False) -> QuerySet[Any]:
    """``rows`` (of a model with a ``chat_id``) less those of chats this user does not see;
    with ``keep_none``, rows of no chat stay (an every-chat grant), and of the audit log's
    (a model with ``message_ids``) those naming no message (a command's summary): an API
    listing across chats names messages of chats this user may not know of."""
    visible = visible_chats(request)
    if visible == ALL_CHATS:
        return rows
    wanted = Q(chat_id__in=visible)
    if keep_none:
        unnamed = Q(chat_id__isnull=True)
        if any(f.name == "message_ids" for f in rows.model._meta.fields):
            unnamed &= Q(message_ids=[])
        wanted |= unnamed
    return rows.filter(wanted)
