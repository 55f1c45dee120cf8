"""Telegram's side of the webhook, as metrics: what getWebhookInfo reports.

A backlog growing at Telegram (``pending_update_count``) is the first sign of an outage our
own request metrics cannot see: Telegram cannot reach us, or gives up on our answers. The
gauges are refreshed when metrics are scraped, at most once a minute per process (no Bot API
call per scrape), on the app's /metrics and on the metrics port (gunicorn.conf.py). The
``webhook_info`` command reports the same, and logs it as one structured line for a
log-based metric where nothing scrapes (a Cloud Run job on a Cloud Scheduler timer).
"""

from __future__ import annotations

import logging
import threading
import time

from groupie import metrics
from webhooks.botapi import BotApi, BotApiError, NoToken, WebhookInfo

CHECK_EVERY_SECONDS = 60.0
logger = logging.getLogger(__name__)
_lock = threading.Lock()
_checked_at = float("-inf")


def record(info: WebhookInfo) -> None:
    metrics.TELEGRAM_PENDING.set(info.pending_update_count)
    metrics.TELEGRAM_LAST_ERROR.set(info.last_error_date or 0)
    metrics.TELEGRAM_MAX_CONNECTIONS.set(info.max_connections or 0)
    metrics.TELEGRAM_CHECKED.set(time.time())


def refresh_if_stale(api: BotApi) -> None:
    """Asks Telegram once CHECK_EVERY_SECONDS at most; a failure is counted, never raised
    (a scrape must not fail because Telegram is slow)."""
    global _checked_at
    if not api.token:
        return
    with _lock:
        now = time.monotonic()
        if now - _checked_at < CHECK_EVERY_SECONDS:
            return
        _checked_at = now
    try:
        record(api.get_webhook_info())
    except NoToken:
        return
    except BotApiError as exc:
        metrics.TELEGRAM_CHECK_ERRORS.inc()
        logger.warning("getWebhookInfo failed: %s", exc)


def reset() -> None:
    """Forgets when Telegram was last asked (tests)."""
    global _checked_at
    _checked_at = float("-inf")
