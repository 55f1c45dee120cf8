"""Which chats have a search index, in the admin: read-only (a chat's page turns it on and off,
build_search_index does from the command line)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from messages.admin.access import scoped
from messages.admin.names import TitledChatsAdmin, label
from messages.admin.readonly import ReadOnlyAdmin
from messages.models import SearchIndex
from messages.stores import get_store


@admin.register(SearchIndex)
class SearchIndexAdmin(TitledChatsAdmin, ReadOnlyAdmin):
    titles_page = "search-indexes"
    wants_directory = True
    list_display = ("chat", "state", "enabled_at", "built_at", "indexed")
    list_filter = ("state",)
    search_fields = ("=chat_id",)
    ordering = ("chat_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scoped(request, super().get_queryset(request))

    @admin.display(description="chat", ordering="chat_id")
    def chat(self, row: SearchIndex) -> str:
        """A link to the chat's page, where the index is turned on and off."""
        url = reverse("admin:archive_chat", args=[row.chat_id])
        title = getattr(row, "chat_title", None)
        return format_html('<a href="{}">{}</a>', url, label(row.chat_id, title))

    @admin.display(description="messages indexed")
    def indexed(self, row: SearchIndex) -> str:
        """What the index covers. ``revisions_indexed`` counts only what the build went back
        over (messages stored before the index was on); those that arrived since were indexed
        as they came. Once ready, that is every message of the chat."""
        chat = getattr(row, "chat_record", None) or get_store().get_chat(row.chat_id)
        messages = chat.message_count if chat else 0
        if row.state == SearchIndex.READY:
            return f"all {messages}"
        return f"building: {row.revisions_indexed} earlier versions done; {messages} messages"
