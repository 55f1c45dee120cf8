"""Per-chat retention periods in the admin (purge_messages applies them)."""

from __future__ import annotations

from django.contrib import admin

from messages.models import ChatRetention


@admin.register(ChatRetention)
class ChatRetentionAdmin(admin.ModelAdmin):
    list_display = ("chat_id", "days", "changed_at")
    search_fields = ("=chat_id",)
