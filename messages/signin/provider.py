"""The OpenID provider's settings, read when first needed: its endpoints come from its
discovery document ({issuer}/.well-known/openid-configuration), fetched once per process.

Fetched lazily, not at start-up: a provider that is briefly down must not stop the archive
from serving (nor the break-glass password sign-in from working). A failure is not cached,
so the next sign-in tries again; it raises ``ProviderUnavailable`` saying what to check."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DISCOVERY_PATH = "/.well-known/openid-configuration"
TIMEOUT_SECONDS = 10


class ProviderUnavailable(Exception):
    """The discovery document could not be had or does not describe the configured issuer."""


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    jwks: str
    userinfo: str  # "" when the provider has none: the ID token's claims are then all there is


_lock = threading.Lock()
_cache: dict[str, Endpoints] = {}


def enabled() -> bool:
    return bool(settings.GROUPIE_OIDC_ISSUER)


def provider_name() -> str:
    return (
        settings.GROUPIE_OIDC_PROVIDER_NAME or urlsplit(settings.GROUPIE_OIDC_ISSUER).hostname or ""
    )


def endpoints() -> Endpoints:
    """The configured issuer's endpoints, discovered on first use and kept."""
    issuer = settings.GROUPIE_OIDC_ISSUER
    with _lock:
        if issuer not in _cache:
            _cache[issuer] = discover(issuer)
        return _cache[issuer]


def discover(issuer: str) -> Endpoints:
    url = issuer + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(
            f"GROUPIE_OIDC_ISSUER: {url} could not be read ({type(exc).__name__}); check the "
            "issuer URL and that this service can reach it."
        ) from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"GROUPIE_OIDC_ISSUER: {url} is not a discovery document.")
    # OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be the one asked.
    if document.get("issuer", "").rstrip("/") != issuer:
        raise ProviderUnavailable(
            f"GROUPIE_OIDC_ISSUER={issuer!r} but the provider calls itself "
            f"{document.get('issuer')!r}: set GROUPIE_OIDC_ISSUER to exactly that."
        )
    missing = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document.get(key), str)
    ]
    if missing:
        raise ProviderUnavailable(f"GROUPIE_OIDC_ISSUER: {url} lacks {', '.join(missing)}.")
    return Endpoints(
        issuer=document["issuer"],
        authorization=document["authorization_endpoint"],
        token=document["token_endpoint"],
        jwks=document["jwks_uri"],
        userinfo=document.get("userinfo_endpoint") or "",
    )


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: object) -> None:
    if setting == "GROUPIE_OIDC_ISSUER":
        with _lock:
            _cache.clear()
