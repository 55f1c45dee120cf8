"""The media files' fetch state in the admin: what is pending, stored, failed or too large,
with the last error, and an action to fetch failed ones again. Read-only otherwise; the files
themselves are shown decrypted on each message's page."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from messages.admin.readonly import ReadOnlyAdmin
from messages.models import MediaFile
from webhooks.media import ENQUEUE_FAILURES, requeue


@admin.register(MediaFile)
class MediaFileAdmin(ReadOnlyAdmin):
    list_display = (
        "message_link",
        "kind",
        "status",
        "attempts",
        "size",
        "content_type",
        "last_error",
        "fetched_at",
    )
    # The message is the link (to its page, with the file shown); a record has nothing more.
    list_display_links = None
    list_filter = ("status", "kind")
    search_fields = ("=chat_id",)
    ordering = ("-created_at",)
    actions = ("fetch_again",)
    exclude = ("file_id",)

    @admin.display(description="message")
    def message_link(self, row: MediaFile) -> str:
        url = reverse("admin:archive_message", args=[row.chat_id, row.message_id])
        return format_html('<a href="{}">{}:{}</a>', url, row.chat_id, row.message_id)

    @admin.action(description="Fetch the selected failed or pending files again")
    def fetch_again(self, request: HttpRequest, queryset: QuerySet[MediaFile]) -> None:
        rows = queryset.exclude(status__in=[MediaFile.STORED, MediaFile.TOO_LARGE])
        try:
            queued = requeue(rows)
        except ENQUEUE_FAILURES as exc:
            self.message_user(request, f"Queueing failed: {type(exc).__name__}", messages.ERROR)
            return
        self.message_user(request, f"{queued} files queued to be fetched again.")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)
