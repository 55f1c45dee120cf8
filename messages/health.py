"""Liveness and readiness probes.

Readiness proves the service can do its job, not just that its dependencies answer: the
database takes a write (rolled back), the store takes a write, the keyring wraps and unwraps,
and the keyring is the one the archive's chat keys were wrapped under. A read-only database or
a keyring file from another deployment makes the probe fail, naming the part and why."""

from __future__ import annotations

import logging
import os

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from crypto.errors import KeyringMismatch
from groupie.schema import NotMigrated, require_migrated
from messages.models import MaintenanceCheckpoint
from messages.sealing import chat_keys, get_keyring
from messages.stores import get_store

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers. No I/O, so a slow database never gets the container killed."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    """Migrated, and takes a write to Django's own tables, rolled back: a read-only database
    fails here."""
    require_migrated()
    with transaction.atomic():
        MaintenanceCheckpoint.objects.create(name=f"readyz:{os.getpid()}:{os.urandom(4).hex()}")
        transaction.set_rollback(True)


def _check_store() -> None:
    get_store().ping()


def _check_keyring() -> None:
    keyring = get_keyring()
    probe = os.urandom(32)
    wrapped, _ = keyring.wrap(probe, b"groupie/readyz")
    plaintext, _ = keyring.unwrap(wrapped, b"groupie/readyz")
    if plaintext != probe:
        raise RuntimeError("keyring round trip returned different bytes")
    chat_keys().verify_keyring()


CHECKS = {"database": _check_database, "store": _check_store, "keyring": _check_keyring}


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency the webhook needs answers; 503 naming the ones that do not."""
    results: dict[str, str] = {}
    logged: set[str] = set()
    for name, check in CHECKS.items():
        try:
            check()
        except (KeyringMismatch, NotMigrated) as exc:
            # Names ids and KEK versions, or the database (never its credentials) and the
            # command to run: it is what the operator has to fix. Said once a probe, though
            # an unmigrated database fails the store's and the keyring's checks as well.
            if str(exc) not in logged:
                logger.error("readiness check %s failed: %s", name, exc)
                logged.add(str(exc))
            # The answer is public: it leaves out the database's name and host.
            shown = exc.public if isinstance(exc, NotMigrated) else str(exc)
            results[name] = f"failed: {type(exc).__name__}: {shown}"
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


def warn_at_start_up() -> None:
    """Says at start-up (gunicorn calls this in each worker) what readiness would refuse for:
    a keyring that does not match the archive. Never stops the worker: /readyz keeps it out of
    traffic, and the log says why."""
    try:
        chat_keys().verify_keyring()
    except (KeyringMismatch, NotMigrated) as exc:
        logger.critical("%s", exc)
    except Exception as exc:
        logger.warning("start-up keyring check skipped: %s", type(exc).__name__)
