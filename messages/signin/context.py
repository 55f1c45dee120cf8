from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from messages.signin import provider


def sign_in(request: HttpRequest) -> dict[str, Any]:
    """What the admin's login page shows: the single sign-on button, and the password form
    only for whom may use it (templates/admin/login.html)."""
    return {
        "groupie_sign_in": {
            "sso": provider.enabled(),
            "provider": provider.provider_name() if provider.enabled() else "",
            "password": settings.GROUPIE_ADMIN_PASSWORD_LOGIN,
            "sso_failed": request.GET.get("sso") == "failed",
        }
    }
