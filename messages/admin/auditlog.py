"""The audit log in the admin: readable by staff with the view permission, never editable.

Chats are named by title for staff who may read them (``names``), by id for the others;
actors by their username (the stored ``actor`` string once the user is deleted)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from messages.admin.access import scoped
from messages.admin.names import TitledChatsAdmin, label
from messages.admin.readonly import ReadOnlyAdmin
from messages.models import AuditEntry

_FIELDS = [f.name for f in AuditEntry._meta.fields]


@admin.register(AuditEntry)
class AuditEntryAdmin(TitledChatsAdmin, ReadOnlyAdmin):
    """The log is evidence: readable by staff with the view permission, never editable."""

    titles_page = "audit-log"
    list_display = ("at", "who", "channel", "action", "chat", "shown", "client_address")
    list_filter = ("channel", "action", "at")
    search_fields = ("actor", "user__username", "=chat_id", "=client_address")
    date_hierarchy = "at"
    # Every field once (message_ids and filters are fields too), the chat's and the actor's
    # names beside their ids.
    readonly_fields = [
        *_FIELDS[: _FIELDS.index("actor") + 1],
        "who",
        *_FIELDS[_FIELDS.index("actor") + 1 : _FIELDS.index("chat_id") + 1],
        "chat",
        *_FIELDS[_FIELDS.index("chat_id") + 1 :],
    ]
    list_select_related = ("user",)

    @admin.display(description="Who", ordering="actor")
    def who(self, entry: AuditEntry) -> str:
        """The user's username while the user exists; else the name kept when it was written
        (an API key's, a command's OS user, a deleted user's)."""
        return entry.user.get_username() if entry.user is not None else entry.actor

    @admin.display(description="Chat", ordering="chat_id")
    def chat(self, entry: AuditEntry) -> SafeString | str:
        if entry.chat_id is None:
            return "—"
        url = reverse("admin:archive_chat", args=[entry.chat_id])
        return format_html(
            '<a href="{}">{}</a>', url, label(entry.chat_id, getattr(entry, "chat_title", None))
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # A reader limited to some chats does not see the others, here either.
        return scoped(request, super().get_queryset(request), keep_none=True)

    @admin.display(description="Messages")
    def shown(self, entry: AuditEntry) -> str:
        # The count only: the ids are on the entry's page, and the list must fit a laptop.
        ids = entry.message_ids or []
        return f"{len(ids)}" if ids else "—"
