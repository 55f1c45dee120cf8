"""Per request: its id and trace for every log line, one access line, and the RED metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from groupie import metrics
from groupie.logging import CURRENT, redact, request_context
from groupie.requests import client_address

logger = logging.getLogger("groupie.access")


class RequestObservationMiddleware:
    """First in the chain, so that it sees every answer, the 503s and 500s included.

    - Sets the request's id (its ``X-Request-ID`` if well formed, else a new one, returned in
      ``X-Request-ID``) and trace for every line logged while it is answered.
    - Logs one access line with Cloud Logging's ``httpRequest``. The URL is the route's path
      without its query string (filters over people's ids stay out) and with the legacy
      webhook's secret segment redacted; the message names the route, not the path.
    - Counts the request by route, method and status class and times it; API requests are
      also counted by API key *prefix* (public: never the key, its hash or its name).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        context = request_context(request.headers)
        token = CURRENT.set(context)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = context.request_id
            self._observe(request, response, time.perf_counter() - started)
            return response
        finally:
            CURRENT.reset(token)

    def _observe(self, request: HttpRequest, response: HttpResponse, seconds: float) -> None:
        match = request.resolver_match
        route = match.view_name if match else "unmatched"
        method = request.method or "-"
        status_class = metrics.status_class(response.status_code)
        metrics.REQUESTS.labels(route, method, status_class).inc()
        metrics.REQUEST_SECONDS.labels(route, method).observe(seconds)
        if route.startswith(("chat-", "message-")):
            key = getattr(getattr(request, "auth", None), "prefix", None) or "session"
            metrics.API_REQUESTS.labels(route, key, status_class).inc()
            if response.status_code in (401, 403):
                metrics.API_REFUSALS.labels(str(response.status_code)).inc()
        metrics.observe_process()
        size = response.get("Content-Length")
        logger.info(
            "%s %s %s %.1fms",
            method,
            route,
            response.status_code,
            seconds * 1000,
            extra={
                **getattr(request, "log_context", {}),
                "route": route,
                "httpRequest": {
                    "requestMethod": method,
                    "requestUrl": redact(request.path),
                    "status": response.status_code,
                    "latency": f"{seconds:.6f}s",
                    "requestSize": request.headers.get("Content-Length") or "0",
                    "responseSize": size if size is not None else str(_length(response)),
                    "userAgent": request.headers.get("User-Agent", "")[:200],
                    "remoteIp": client_address(request) or "",
                    "protocol": request.META.get("SERVER_PROTOCOL", ""),
                },
            },
        )


def _length(response: HttpResponse) -> int:
    return 0 if getattr(response, "streaming", False) else len(response.content)
