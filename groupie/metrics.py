"""Prometheus metrics and the /metrics view.

Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR makes every worker write its
samples to that directory and the view aggregates them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

UPDATES = Counter(
    "groupie_updates_total",
    "Telegram updates received, by update kind and outcome.",
    ["kind", "outcome"],
)
KEYRING_CALLS = Counter(
    "groupie_keyring_calls_total",
    "Calls to the keyring (KEK backend), by operation.",
    ["operation"],
)
CHAT_KEY_CACHE_EVICTIONS = Counter(
    "groupie_chat_key_cache_evictions_total",
    "Unwrapped chat keys evicted from the cache while still fresh: each will cost a keyring "
    "call when its chat is next read or written. Steadily rising means the cache is too small "
    "(GROUPIE_CHAT_KEY_CACHE_SIZE).",
)
DECRYPT_FAILURES = Counter(
    "groupie_decrypt_failures_total",
    "Records that failed to open, by error type.",
    ["error"],
)
ARCHIVE_SECONDS = Histogram(
    "groupie_archive_seconds",
    "Time to seal and store one update.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
