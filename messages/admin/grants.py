"""Chat access grants and legal holds in the admin.

Granting (``archive.manage_chat_access``) and holding (``archive.manage_legal_hold``) are
their own permissions, which superusers have; the model's add/change/delete permissions do
not exist. Every change goes through the same actions as ``grant_chat_access`` and
``set_legal_hold`` (``messages.grants``, ``messages.legal_hold``), which validate and audit
it. A grant is made or revoked, never edited; a hold's reason is changed by setting it
again. Granting is as strong as reading every chat (a manager may grant themselves any): give
``archive.manage_chat_access`` to few."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from messages.access import MANAGE_ACCESS_PERMISSION, MANAGE_HOLD_PERMISSION
from messages.admin.access import scoped
from messages.grants import do_grant_chat_access, do_revoke_grants
from messages.legal_hold import do_release_legal_hold, do_set_legal_hold
from messages.models import ChatAccess, LegalHold
from messages.outcome import Refused


class ChatAccessForm(forms.ModelForm):
    class Meta:
        model = ChatAccess
        fields = ("user", "group", "chat_id")
        help_texts = {
            "user": "The user to grant to; or leave it empty and choose a group.",
            "chat_id": "The chat's id, e.g. -1001234567890; leave it empty for every chat.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("user")) == bool(data.get("group")):
            raise forms.ValidationError("Choose a user or a group (one of them).")
        try:
            self.made = do_grant_chat_access(
                user=data.get("user"),
                group=data.get("group"),
                chat_ids=[data["chat_id"]] if data.get("chat_id") is not None else [],
                all_chats=data.get("chat_id") is None,
                request=self.request,
            )
        except Refused as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    request: HttpRequest | None = None
    made: list[ChatAccess] = []


class _ManagedBy(admin.ModelAdmin):
    permission = ""

    def _may_manage(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(self.permission))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)


@admin.register(ChatAccess)
class ChatAccessAdmin(_ManagedBy):
    permission = MANAGE_ACCESS_PERMISSION
    form = ChatAccessForm
    list_display = ("user", "group", "chats", "granted_at", "granted_by")
    list_filter = ("group",)
    search_fields = ("user__username", "group__name", "=chat_id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatAccess]:
        # A limited reader who may view grants sees those of its chats (and every-chat ones).
        return scoped(request, super().get_queryset(request), keep_none=True)

    @admin.display(description="chats", ordering="chat_id")
    def chats(self, grant: ChatAccess) -> str:
        return "every chat" if grant.chat_id is None else str(grant.chat_id)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"request": request})  # the action audits it

    def save_model(self, request: HttpRequest, obj: ChatAccess, form: Any, change: bool) -> None:
        # Made by the action in the form's clean (a refusal shows on the form); this shows
        # the grant that exists, made now or held already.
        found = ChatAccess.objects.filter(user=obj.user, group=obj.group, chat_id=obj.chat_id)
        obj.pk = found.values_list("pk", flat=True).first()

    def delete_model(self, request: HttpRequest, obj: ChatAccess) -> None:
        do_revoke_grants([obj], request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatAccess]) -> None:
        do_revoke_grants(queryset, request=request)


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ("chat_id", "reason")

    request: HttpRequest | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("chat_id") is not None and data.get("reason"):
            try:
                do_set_legal_hold(data["chat_id"], data["reason"], request=self.request)
            except Refused as exc:
                raise forms.ValidationError(str(exc)) from None
        return data

    def validate_unique(self) -> None:
        # Setting a hold again changes its reason (audited): not a duplicate.
        return None


@admin.register(LegalHold)
class LegalHoldAdmin(_ManagedBy):
    permission = MANAGE_HOLD_PERMISSION
    form = LegalHoldForm
    list_display = ("chat_id", "reason", "since", "by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[LegalHold]:
        return scoped(request, super().get_queryset(request))

    search_fields = ("=chat_id",)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"request": request})  # the action audits it

    def save_model(self, request: HttpRequest, obj: LegalHold, form: Any, change: bool) -> None:
        return None  # set by the action in the form's clean

    def delete_model(self, request: HttpRequest, obj: LegalHold) -> None:
        do_release_legal_hold(obj.chat_id, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> None:
        for hold in queryset:
            do_release_legal_hold(hold.chat_id, request=request)
