"""API error mapping: our own outages are 503 (retry later), never a 500 with a traceback."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crypto.errors import KeyringError
from messages.stores.records import StoreError

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StoreError | KeyringError):
        logger.error("API request failed: %s", type(exc).__name__)
        return Response(
            {"detail": "The archive is unavailable; retry later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)
