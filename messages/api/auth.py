"""Who may read the archive through the API, and which chats they see.

Programs send ``Authorization: Bearer <key>``; staff use their admin session (browsable API)
and need the ``archive.view_decrypted`` permission, and see only the chats granted to them. A
key limited to some chats sees only those: others answer 404 and never appear in lists.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from messages.access import readable_chats
from messages.apikeys import verify_api_key
from messages.models import DECRYPT_PERMISSION, ApiKey


class ApiKeyUser:
    """The principal of a request made with an API key (not a Django user)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_active = True

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.pk = None
        self.username = f"api-key:{key.prefix}"

    def __str__(self) -> str:
        return f"API key {self.key.name!r} ({self.key.prefix})"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return perm == DECRYPT_PERMISSION


class BearerApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: Bearer <key>, one key.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        record = verify_api_key(key)
        if record is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiKeyUser(record), record

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class BearerApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the Bearer scheme in the OpenAPI schema."""

    target_class = BearerApiKeyAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API key: gpk_…"}


class CanReadArchive(permissions.BasePermission):
    message = "Reading the archive needs an API key or the view_decrypted permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(DECRYPT_PERMISSION))


def allowed_chats(request: Request) -> frozenset[int] | None:
    """The chats this request may read, or None for every chat: a key's chats, or a staff
    session's grants (``messages.access``), so a session reads the API as a key limited to
    the same chats would."""
    if isinstance(request.auth, ApiKey):
        return frozenset(int(c) for c in request.auth.chat_ids) if request.auth.chat_ids else None
    readable = readable_chats(request.user)
    return readable if isinstance(readable, frozenset) else None  # None: every chat


class PerKeyRateThrottle(throttling.SimpleRateThrottle):
    """One budget per API key (or per staff user), so one busy program cannot starve others."""

    scope = "archive"

    def get_rate(self) -> str | None:
        # Read on use, not at import, so a changed setting (and override_settings) applies.
        rates = api_settings.DEFAULT_THROTTLE_RATES
        rate = rates.get(self.scope)
        return str(rate) if rate is not None else None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
