"""Facts about a request that several layers need: the caller's address behind proxies."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


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
