"""The Telegram webhook: check the secret, bound and parse the body, archive, map errors.

Telegram redelivers anything that is not 2xx and holds back the chat's later updates meanwhile,
so the status codes are chosen with care: 4xx only for requests that will never succeed (and
are not from Telegram), 503 for our own outages, 200 only once the store has committed.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from groupie import metrics, strictjson
from groupie.strictjson import StrictJSONError
from messages.telegram import MAX_UPDATE_DEPTH
from webhooks.intake import IGNORED, INVALID, UNAVAILABLE, take

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret


def _secret_matches(candidate: str | None) -> bool:
    given = (candidate or "").encode()
    # compare_digest takes the same time wherever the first difference is, and every accepted
    # secret (the current one and any fallback of a rotation) is compared: no early exit.
    matches = [
        hmac.compare_digest(given, expected.encode())
        for expected in (settings.WEBHOOK_SECRET, *settings.WEBHOOK_SECRET_FALLBACKS)
    ]
    return any(matches)


def _status(code: int, error: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": error}, status=code)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    if not _secret_matches(request.headers.get(SECRET_HEADER)):
        metrics.UPDATES.labels("unknown", "forbidden").inc()
        return _status(403, "forbidden")
    return _receive(request)


@csrf_exempt
@require_POST
def legacy_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    """The Flask prototype's route, /webhook/<secret>, for deployments still registered on it."""
    if not _secret_matches(secret):
        metrics.UPDATES.labels("unknown", "forbidden").inc()
        return _status(403, "forbidden")
    logger.warning(
        "update received on the deprecated /webhook/<secret> route; "
        "run `manage.py set_webhook` to move to /telegram/webhook/"
    )
    return _receive(request)


def _receive(request: HttpRequest) -> HttpResponse:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        metrics.UPDATES.labels("unknown", "invalid").inc()
        return _status(400, "bad Content-Length")
    if declared > limit:
        metrics.UPDATES.labels("unknown", "too_large").inc()
        return _status(413, f"body over {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        metrics.UPDATES.labels("unknown", "too_large").inc()
        return _status(413, f"body over {limit} bytes")
    if len(body) < declared:
        # The client stopped sending part way (a half-closed connection): never archive that.
        metrics.UPDATES.labels("unknown", "invalid").inc()
        return _status(400, "body shorter than its Content-Length")
    try:
        data = strictjson.loads(body, max_depth=MAX_UPDATE_DEPTH)
    except StrictJSONError as exc:
        # Its text names the problem, never content.
        metrics.UPDATES.labels("unknown", "invalid").inc()
        return _status(400, str(exc))
    intake = take(data)
    # The request's access line carries these (groupie.middleware): ids and outcomes only.
    request.log_context = intake.context  # type: ignore[attr-defined]
    if intake.outcome == INVALID:
        return _status(400, intake.reason)
    if intake.outcome == UNAVAILABLE:
        response = _status(503, "archive unavailable; Telegram will redeliver")
        response["Retry-After"] = "5"
        return response
    if intake.outcome == IGNORED:
        return JsonResponse({"ok": True, "ignored": intake.context["update_kind"]})
    return JsonResponse({"ok": True, "outcome": intake.outcome})
