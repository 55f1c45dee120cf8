"""Per-chat retention periods in the admin (purge_messages applies them).

A period schedules a chat's deletion, so setting, changing or clearing one needs
``archive.manage_retention`` (superusers have it; grant it to few): the model's own
add/change/delete permissions do not exist. Every change goes through the same actions as
``set_retention`` (``messages.retention``), which validate the period and audit it.

A new period's chat is picked from the archived chats, by title for staff who may read it
(``names``), by id otherwise."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from messages import retention
from messages.admin import names
from messages.admin.access import may_see, scoped
from messages.admin.names import TitledChatsAdmin
from messages.models import ChatRetention
from messages.stores import get_store


class ChatRetentionForm(forms.ModelForm):
    chat_id = forms.TypedChoiceField(label="Chat", coerce=int, choices=())

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
class ChatRetentionAdmin(TitledChatsAdmin):
    form = ChatRetentionForm
    titles_page = "retention"
    list_display = ("chat", "days", "changed_at")
    search_fields = ("=chat_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatRetention]:
        return scoped(request, super().get_queryset(request))

    @admin.display(description="Chat", ordering="chat_id")
    def chat(self, row: ChatRetention) -> SafeString:
        url = reverse("admin:archive_chat", args=[row.chat_id])
        title = getattr(row, "chat_title", None)
        return format_html('<a href="{}">{}</a>', url, names.label(row.chat_id, title))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Another chat is another period: changing the chat would move this one.
        return ("chat", "days") if obj is not None else ("chat_id", "days")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form: Any = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            chats = [c for c in get_store().list_chats() if may_see(request, c.chat_id)]
            titles = names.titles(
                request, (c.chat_id for c in chats), page="retention", chats=chats
            )
            choices = sorted(
                ((c.chat_id, names.label(c.chat_id, titles.get(c.chat_id))) for c in chats),
                key=lambda choice: (choice[0] not in titles, choice[1].casefold()),
            )
            # A field of this form class's own: the declared one is shared by every request's.
            form.base_fields["chat_id"] = forms.TypedChoiceField(
                label="Chat", coerce=int, choices=[("", "---------"), *choices]
            )
        else:
            # A period's chat is shown, never changed: no chat field on its change form.
            form.base_fields.pop("chat_id", None)
        return form

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
        return ("chat",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: ChatRetention, form: Any, change: bool) -> None:
        saved = retention.do_set_retention(obj.chat_id, obj.days, request=request)
        obj.changed_at = saved.changed_at

    def delete_model(self, request: HttpRequest, obj: ChatRetention) -> None:
        retention.do_clear_retention(obj.chat_id, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatRetention]) -> None:
        for row in queryset:
            retention.do_clear_retention(row.chat_id, request=request)
