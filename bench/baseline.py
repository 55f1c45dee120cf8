"""The ingest benchmark's baseline: the least a durable webhook has to do.

bench/ingest.py measures groupie's webhook against this hook to show what groupie's extra work
costs: the same secret check, JSON parse, one AES-GCM encryption of the body and one committed
INSERT, through the same middleware, and nothing else. bench/urls.py mounts it at /bench/, in
the server bench/ingest.py starts with bench/settings.py; groupie's own URLconf never does.
"""

from __future__ import annotations

import hmac
import json
import os
import threading

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks.views import SECRET_HEADER

TABLE = "bench_baseline_hook"
NONCE_BYTES = 12

# One key per process: the rows only have to be written, never read back.
_aead = AESGCM(AESGCM.generate_key(bit_length=256))
_table_lock = threading.Lock()
_table_ready = False

_CREATE_TABLE = {
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} "
        "(id BIGSERIAL PRIMARY KEY, update_id BIGINT NOT NULL, body BYTEA NOT NULL)"
    ),
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} "
        "(id INTEGER PRIMARY KEY, update_id BIGINT NOT NULL, body BLOB NOT NULL)"
    ),
}
_INSERT = f"INSERT INTO {TABLE} (update_id, body) VALUES (%s, %s)"  # noqa: S608 - a constant


def _ensure_table() -> None:
    """Creates the table once per process; a concurrent creator elsewhere is not an error."""
    global _table_ready
    if _table_ready:
        return
    with _table_lock:
        if _table_ready:
            return
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_CREATE_TABLE[connection.vendor])
        except (IntegrityError, ProgrammingError):
            # PostgreSQL: two processes racing on CREATE TABLE IF NOT EXISTS; one wins.
            pass
        _table_ready = True


def _secret_matches(candidate: str | None) -> bool:
    return hmac.compare_digest((candidate or "").encode(), settings.WEBHOOK_SECRET.encode())


@csrf_exempt
@require_POST
def hook(request: HttpRequest) -> HttpResponse:
    if not _secret_matches(request.headers.get(SECRET_HEADER)):
        return JsonResponse({"ok": False, "error": "forbidden"}, status=403)
    try:
        update = json.loads(request.body)
        update_id = int(update["update_id"])
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"ok": False, "error": "bad update"}, status=400)
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + _aead.encrypt(nonce, request.body, None)
    _ensure_table()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT, [update_id, sealed])
    return JsonResponse({"ok": True, "outcome": "created"})


urlpatterns = [path("hook/", hook, name="bench-baseline-hook")]
