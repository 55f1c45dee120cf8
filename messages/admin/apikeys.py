"""API keys in the admin: create (the key is shown once), limit to chats, revoke.

An API key reads decrypted messages, so making, changing or revoking one needs what reading
them needs, the decrypt permission, on top of the model permissions: staff without it could
otherwise mint themselves a key and read through the API what the admin hides from them. A
key's chats are fixed when it is made (to reach more chats, make another key), and every key
made or revoked is written to the audit log: who, which key, which chats."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from messages.admin.access import ALL_CHATS, readable_chats
from messages.apikeys import do_create_api_key, do_delete_api_keys, do_revoke_api_keys
from messages.models import DECRYPT_PERMISSION, ApiKey


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

    # Every way to make, change, revoke or delete a key needs the decrypt permission too.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return _can_decrypt(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_decrypt(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_decrypt(request) and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A key's reach is fixed when it is made: widening one would be a new credential.
        return (*self.readonly_fields, "chat_ids") if obj is not None else self.readonly_fields

    @admin.display(description="Chats")
    def scope(self, key: ApiKey) -> str:
        return ", ".join(str(c) for c in key.chat_ids) or "every chat"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created, key = do_create_api_key(
            obj.name, form.cleaned_data["chat_ids"], allow_duplicate_name=True, request=request
        )
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

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        do_delete_api_keys([obj], request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        do_delete_api_keys(queryset, request=request)

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = do_revoke_api_keys(queryset, request=request)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


def _can_decrypt(request: HttpRequest) -> bool:
    """A key reads what it is limited to, or every chat: so only a reader of every chat (a
    grant for all chats, or a superuser) makes keys, or a limited reader could mint a key
    wider than their grants."""
    return request.user.has_perm(DECRYPT_PERMISSION) and readable_chats(request.user) == ALL_CHATS
