"""The audit log in the admin: readable by staff with the view permission, never editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from messages.admin.access import scoped
from messages.admin.readonly import ReadOnlyAdmin
from messages.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The log is evidence: readable by staff with the view permission, never editable."""

    list_display = ("at", "actor", "channel", "action", "chat_id", "shown", "client_address")
    list_filter = ("channel", "action", "at")
    search_fields = ("actor", "=chat_id", "=client_address")
    date_hierarchy = "at"
    # Every field once (message_ids and filters are fields too).
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    list_select_related = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # A reader limited to some chats does not see the others, here either.
        return scoped(request, super().get_queryset(request), keep_none=True)

    @admin.display(description="Messages")
    def shown(self, entry: AuditEntry) -> str:
        # The count only: the ids are on the entry's page, and the list must fit a laptop.
        ids = entry.message_ids or []
        return f"{len(ids)}" if ids else "—"
