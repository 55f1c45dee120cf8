"""Which chats have a search index, in the admin: read-only (a chat's page turns it on and off,
build_search_index does from the command line)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from messages.admin.readonly import ReadOnlyAdmin
from messages.models import SearchIndex


@admin.register(SearchIndex)
class SearchIndexAdmin(ReadOnlyAdmin):
    list_display = ("chat", "state", "enabled_at", "built_at", "revisions_indexed")
    list_filter = ("state",)
    search_fields = ("=chat_id",)
    ordering = ("chat_id",)

    @admin.display(description="chat", ordering="chat_id")
    def chat(self, row: SearchIndex) -> str:
        """A link to the chat's page, where the index is turned on and off."""
        url = reverse("admin:archive_chat", args=[row.chat_id])
        return format_html('<a href="{}">{}</a>', url, row.chat_id)
