"""Our own outages answer 503 with Retry-After, everywhere, never a 500 traceback page.

A database that is down, refuses connections, lost a table or turned read-only, a store or a
keyring that fails: none of these is the caller's fault, and all of them pass. Telegram
retries a 503 (and holds back the chat's later updates meanwhile), API clients and browsers are
told to come back. Views that expect an outage answer it themselves (the webhook, the API's
exception handler, readiness); anything else that escapes, from a view or from a middleware
such as sessions or authentication, reaches Django's 500 handler, which is ``server_error``
here: it answers 503 for an outage and the usual 500 for a bug.
"""

from __future__ import annotations

import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.defaults import server_error as django_server_error

from crypto.errors import KeyringError
from messages.stores.records import StoreError

OUTAGES = (DatabaseError, StoreError, KeyringError)
RETRY_AFTER_SECONDS = 5


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OUTAGES)


def unavailable(request: HttpRequest) -> HttpResponse:
    """A 503 for ``request``: JSON for programs (the API, the webhook), a page for people."""
    response: HttpResponse
    if _wants_json(request):
        response = JsonResponse({"detail": "The archive is unavailable; retry later."}, status=503)
    else:
        response = TemplateResponse(request, "503.html", status=503).render()
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: 503 when the exception being handled is an outage of ours."""
    if is_outage(sys.exception()):
        return unavailable(request)
    return django_server_error(request)


def _wants_json(request: HttpRequest) -> bool:
    path = request.path
    if path.startswith(("/api/", "/telegram/", "/webhook/", "/readyz", "/healthz")):
        return "text/html" not in request.headers.get("Accept", "")
    return False
