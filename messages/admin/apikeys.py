"""API keys in the admin: create (the key is shown once), limit to chats, revoke."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from messages.apikeys import create_api_key
from messages.models import ApiKey


class ChatIdsField(forms.Field):
    """Chat ids, separated by commas, spaces or new lines; empty means every chat."""

    def to_python(self, value: Any) -> list[int]:
        parts = str(value or "").replace(",", " ").split()
        try:
            ids = sorted({int(p) for p in parts})
        except ValueError:
            raise forms.ValidationError(
                "Chat ids are whole numbers, e.g. -1001234567890."
            ) from None
        if any(not -(2**63) <= i < 2**63 for i in ids):
            raise forms.ValidationError("A chat id is out of range.")
        return ids

    def prepare_value(self, value: Any) -> str:
        return ", ".join(str(v) for v in value) if isinstance(value, list) else (value or "")


class ApiKeyForm(forms.ModelForm):
    chat_ids = ChatIdsField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Limited to chats",
        help_text="Chat ids; leave empty for every chat.",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "chat_ids")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "scope", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    @admin.display(description="Chats")
    def scope(self, key: ApiKey) -> str:
        return ", ".join(str(c) for c in key.chat_ids) or "every chat"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created, key = create_api_key(obj.name, form.cleaned_data["chat_ids"])
        obj.pk, obj.prefix = created.pk, created.prefix
        # Shown once, on the page that answers this request; never stored or put in a cookie.
        request._groupie_new_key = key  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url: Any = None) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API key created",
            "key": request._groupie_new_key,  # type: ignore[attr-defined]
            "record": obj,
        }
        return TemplateResponse(request, "admin/archive/apikey_created.html", context)

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
