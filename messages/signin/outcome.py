"""Every sign-in and every failed one, in the audit log, and every failure counted.

Django's signals carry them: ``user_logged_in`` for a sign-in by either way, and
``user_login_failed`` for a failure (sent by ``authenticate()`` when no backend accepted, and
by the single sign-on views for a failure before that, such as a forged state). The backends
leave the reason and the details on the request, where the receivers find them. Neither the
password nor any token is ever looked at; a failed password sign-in names the account only
when it exists (a password typed into the username field is not kept)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from groupie import metrics
from groupie.requests import client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Models are looked up when used: the app's ready() connects these receivers, before models
# may be imported.

SIGN_IN, SIGN_IN_FAILED = "sign-in", "sign-in-failed"
_FAILURE = "_groupie_sign_in_failure"
_SUCCESS = "_groupie_sign_in_details"


def note_failure(request: HttpRequest, reason: str) -> None:
    setattr(request, _FAILURE, reason)


def note_success(request: HttpRequest, *, created: bool, groups: list[str] | None) -> None:
    details: dict[str, Any] = {"created": created}
    if groups is not None:
        details["groups"] = groups
    setattr(request, _SUCCESS, details)


def signed_in(sender: object, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """A user_logged_in receiver."""
    method = "oidc" if getattr(user, "backend", "").endswith("OIDCBackend") else "password"
    details = getattr(request, _SUCCESS, {}) if method == "oidc" else {}
    _write(request, SIGN_IN, user=user, actor=user.get_username(), method=method, **details)


def sign_in_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """A user_login_failed receiver (beside groupie.metrics' counter)."""
    if "code_verifier" in credentials or credentials.get("method") == "oidc":
        method, actor = "oidc", "anonymous"
    else:
        method = "password"
        username = credentials.get("username")
        known = (
            isinstance(username, str)
            and get_user_model().objects.filter(username=username).exists()
        )
        actor = username if known and isinstance(username, str) else "anonymous"
    reason = getattr(request, _FAILURE, None) or (
        "wrong-credentials" if method == "password" else "refused"
    )
    _write(request, SIGN_IN_FAILED, user=None, actor=actor, method=method, reason=reason)


def _write(
    request: HttpRequest | None, action: str, *, user: User | None, actor: str, **filters: Any
) -> None:
    # Written at once, not held for a good response: a failure is worth keeping although the
    # answer is a refusal.
    entry = apps.get_model("archive", "AuditEntry")
    entry.objects.create(
        channel=entry.ADMIN,
        user=user,
        actor=actor[:200],
        action=action,
        filters=filters,
        client_address=client_address(request) if request is not None else None,
    )
    metrics.AUDIT_ENTRIES.labels(entry.ADMIN).inc()
