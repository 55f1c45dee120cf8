"""One access-log line per request, by route name rather than raw path."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("groupie.access")


class AccessLogMiddleware:
    """Logs method, route, status and duration.

    The route's name is logged instead of the path: paths can carry secrets (the legacy webhook)
    and the query string can carry filters over people. Client addresses are left to the
    platform's own request log.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.view_name if match else "-"
        logger.info(
            "%s %s %s %.1fms",
            request.method,
            route,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response
