"""API error mapping: our own outages (database, store, keyring) are 503 (retry later),
never a 500 with a traceback."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from messages.outage import RETRY_AFTER_SECONDS, is_outage
from messages.stores.records import RecordRefused

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if is_outage(exc):
        logger.error("API request failed: %s", type(exc).__name__)
        return Response(
            {"detail": "The archive is unavailable; retry later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RecordRefused):
        # A value the store cannot hold (an id beyond its integers): no such record.
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)
