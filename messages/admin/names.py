"""Chat titles instead of bare ids on the admin's record pages (the audit log, search indexes,
retention periods, the index): opened for the page only, for staff who may read the chat
(``access``), and never kept.

A page's titles are opened in one batch from one read of the chat directory; each chat key is
unwrapped at most once (the key cache keeps it). A page that showed any title is written to
the audit log (``chat-titles``), like the chat list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from messages import audit
from messages.admin.access import readable_chats
from messages.models import AuditEntry
from messages.reading import opening
from messages.stores import get_store
from messages.stores.records import ChatRecord


def titles(
    request: HttpRequest,
    chat_ids: Iterable[int | None],
    *,
    page: str,
    chats: list[ChatRecord] | None = None,
) -> dict[int, str]:
    """The titles of those of ``chat_ids`` the viewer may read (``chats``: the directory, when
    the caller has read it already)."""
    readable = readable_chats(getattr(request, "user", None))
    wanted = {c for c in chat_ids if c is not None and c in readable}
    if not wanted:
        return {}
    directory = chats if chats is not None else get_store().list_chats()
    opened = opening.open_titles([c for c in directory if c.chat_id in wanted])
    if opened:
        audit.record(
            request,
            channel=AuditEntry.ADMIN,
            action="chat-titles",
            filters={"page": page, "chats": sorted(opened)},
        )
    return opened


def label(chat_id: int | None, title: str | None) -> str:
    if chat_id is None:
        return "—"
    return f"{title} ({chat_id})" if title else f"Chat {chat_id}"


class TitledChatsAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows have a ``chat_id``: each row of the list page (and the record
    on its own page) gets ``chat_title``, opened for the viewer in one batch per page."""

    titles_page = "records"
    # Whether the rows also need their chat's directory record (``chat_record``, None for a
    # chat not archived): read once for the page.
    wants_directory = False

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # Evaluating the page's queryset here caches its rows: the template shows these same
        # objects, each with its title.
        rows = list(changelist.result_list)
        directory = get_store().list_chats() if rows and self.wants_directory else None
        found = titles(request, (r.chat_id for r in rows), page=self.titles_page, chats=directory)
        records = {c.chat_id: c for c in directory or ()}
        for row in rows:
            row.chat_title = found.get(row.chat_id)
            row.chat_record = records.get(row.chat_id)
        return changelist

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            found = titles(request, [obj.chat_id], page=self.titles_page)
            obj.chat_title = found.get(obj.chat_id)
        return obj
