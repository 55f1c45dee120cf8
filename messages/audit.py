"""The audit trail of decrypted views, shared by the admin and the API."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from messages.models import ApiKey, AuditEntry

# Enough to say what a page showed without letting one entry grow without bound.
MAX_IDS = 500


def client_address(request: HttpRequest) -> str | None:
    """The caller's address. Behind a proxy (Cloud Run), the address the proxy appended to
    X-Forwarded-For when GROUPIE_TRUSTED_PROXIES says how many proxies to trust."""
    address = request.META.get("REMOTE_ADDR")
    hops = settings.GROUPIE_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            address = chain[-hops]
    try:
        return str(ipaddress.ip_address(address or ""))
    except ValueError:
        return None


def record(
    request: HttpRequest,
    *,
    channel: str,
    action: str,
    chat_id: int | None = None,
    message_ids: Iterable[str] = (),
    filters: dict[str, Any] | None = None,
    api_key: ApiKey | None = None,
) -> AuditEntry:
    user = getattr(request, "user", None)
    is_user = user is not None and user.is_authenticated and api_key is None
    return AuditEntry.objects.create(
        channel=channel,
        user=user if is_user else None,
        api_key=api_key,
        actor=(
            f"API key {api_key.name} ({api_key.prefix})"
            if api_key
            else (user.get_username() if is_user and user else "anonymous")
        ),
        action=action,
        chat_id=chat_id,
        message_ids=list(message_ids)[:MAX_IDS],
        filters={k: v for k, v in (filters or {}).items() if v not in (None, "", [], ())},
        client_address=client_address(request),
    )
