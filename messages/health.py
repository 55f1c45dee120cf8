"""Liveness and readiness probes."""

from __future__ import annotations

import logging
import os

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from messages.sealing import get_keyring
from messages.stores import get_store

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers. No I/O, so a slow database never gets the container killed."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_store() -> None:
    get_store().ping()


def _check_keyring() -> None:
    keyring = get_keyring()
    probe = os.urandom(32)
    wrapped, _ = keyring.wrap(probe, b"groupie/readyz")
    plaintext, _ = keyring.unwrap(wrapped, b"groupie/readyz")
    if plaintext != probe:
        raise RuntimeError("keyring round trip returned different bytes")


CHECKS = {"database": _check_database, "store": _check_store, "keyring": _check_keyring}


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency the webhook needs answers; 503 naming the ones that do not."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = f"failed: {type(exc).__name__}"
        else:
            results[name] = "ok"
    ready = all(v == "ok" for v in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
