"""Per-chat retention periods in the admin (purge_messages applies them).

A period schedules a chat's deletion, so setting, changing or clearing one needs
``archive.manage_retention`` (superusers have it; grant it to few): the model's own
add/change/delete permissions do not exist. Every change goes through the same actions as
``set_retention`` (``messages.retention``), which validate the period and audit it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from messages import retention
from messages.admin.access import scoped
from messages.models import ChatRetention


class ChatRetentionForm(forms.ModelForm):
    class Meta:
        model = ChatRetention
        fields = ("chat_id", "days")
        help_texts = {
            "days": (
                f"Messages older than this many days are purged: {retention.MIN_DAYS} to "
                f"{retention.MAX_DAYS}. Delete the period to keep them forever."
            )
        }

    def clean_days(self) -> int:
        days: int = self.cleaned_data["days"]
        try:
            return retention.check_days(days)
        except retention.InvalidPeriod as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(ChatRetention)
class ChatRetentionAdmin(admin.ModelAdmin):
    form = ChatRetentionForm
    list_display = ("chat_id", "days", "changed_at")
    search_fields = ("=chat_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatRetention]:
        return scoped(request, super().get_queryset(request))

    def _may_manage(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(retention.MANAGE_PERMISSION))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Another chat is another period: changing the chat id would move this one.
        return ("chat_id",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: ChatRetention, form: Any, change: bool) -> None:
        saved = retention.do_set_retention(obj.chat_id, obj.days, request=request)
        obj.changed_at = saved.changed_at

    def delete_model(self, request: HttpRequest, obj: ChatRetention) -> None:
        retention.do_clear_retention(obj.chat_id, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatRetention]) -> None:
        for row in queryset:
            retention.do_clear_retention(row.chat_id, request=request)
