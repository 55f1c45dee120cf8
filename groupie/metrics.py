"""Prometheus metrics and the /metrics view.

Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR makes every worker write its
samples to that directory and the view aggregates them (prometheus_client's multiprocess mode).

Who may read them: on Cloud Run /metrics would be public. ``GROUPIE_METRICS_TOKEN`` makes the
view require ``Authorization: Bearer <token>`` (compared in constant time), and
``GROUPIE_METRICS_PORT`` serves them on a port of their own instead (gunicorn.conf.py starts
it in the master, on 127.0.0.1 unless ``GROUPIE_METRICS_BIND`` says otherwise), which only a
sidecar in the same instance can reach; the main port then answers 404 for /metrics.

Labels are bounded: routes by name, status by class, API keys by their public prefix (the
eight hex digits shown in the admin and the audit log: never the key, its hash or its name,
which an administrator may have made telling), kinds and outcomes from fixed lists. No label
ever holds an id of a chat or a person.
"""

from __future__ import annotations

import hmac
import os
import re
import resource
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)

# -- HTTP, per route (RED) ------------------------------------------------------------------------
REQUESTS = Counter(
    "groupie_http_requests_total",
    "HTTP requests answered, by route name, method and status class (2xx, 4xx, 5xx).",
    ["route", "method", "status_class"],
)
REQUEST_SECONDS = Histogram(
    "groupie_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
API_REQUESTS = Counter(
    "groupie_api_requests_total",
    "Read API requests, by endpoint (route name), API key prefix ('session' for staff in the "
    "browser) and status class.",
    ["endpoint", "key", "status_class"],
)

# -- which revision this is (the canary rules of deploy/monitoring/ watch the newest) ----------
REVISION_GENERATION = Gauge(
    "groupie_revision_generation",
    "The generation of the Cloud Run revision this server runs: 42 for groupie-00042-xyz "
    "(K_REVISION, which Cloud Run sets); 0 elsewhere.",
    multiprocess_mode="max",
)
_REVISION = re.fullmatch(r".+-(\d+)-[a-z0-9]+", os.environ.get("K_REVISION", ""))
if _REVISION:
    REVISION_GENERATION.set(int(_REVISION.group(1)))

# -- the archive ------------------------------------------------------------------------------
UPDATES = Counter(
    "groupie_updates_total",
    "Telegram updates received, by update kind and outcome (created, revised, duplicate, "
    "ignored, invalid, too_large, forbidden, unavailable).",
    ["kind", "outcome"],
)
ARCHIVE_SECONDS = Histogram(
    "groupie_archive_seconds",
    "Time to seal and store one update.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LAST_ARCHIVED = Gauge(
    "groupie_last_archived_timestamp_seconds",
    "When this server last stored an update (created or revised), as a Unix time.",
    multiprocess_mode="max",
)
STORE_ERRORS = Counter(
    "groupie_store_errors_total",
    "Store failures (database or Firestore unreachable, refusing, timing out), by operation.",
    ["operation"],
)

# -- keys and crypto ------------------------------------------------------------------------------
KEYRING_CALLS = Counter(
    "groupie_keyring_calls_total",
    "Calls to the keyring (the KEK backend: Cloud KMS or the local file), by operation (wrap, "
    "unwrap) and result (ok, not_primary: unwrapped under an older KEK version, refused: the "
    "keyring would not unwrap it, error: the keyring failed or was unreachable).",
    ["operation", "result"],
)
CHAT_KEY_CACHE = Counter(
    "groupie_chat_key_cache_lookups_total",
    "Lookups of unwrapped chat keys in the per-process cache, by result (hit, miss).",
    ["result"],
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

# -- refusals (a surge is an attack, or a client whose credentials went stale) ------------------
API_REFUSALS = Counter(
    "groupie_api_refusals_total",
    "Read API requests refused for their credentials, by status (401: no or unknown key, "
    "403: not allowed).",
    ["status"],
)
ADMIN_LOGIN_FAILURES = Counter(
    "groupie_admin_login_failures_total",
    "Failed sign-ins (Django's user_login_failed: the admin's login form, any authenticate()).",
)


def count_login_failure(sender: object, **kwargs: object) -> None:
    """A user_login_failed receiver. Counts only: the credentials are never looked at."""
    ADMIN_LOGIN_FAILURES.inc()


# -- the data volume of one box (groupie/datavolume.py) -----------------------------------------
DATA_VOLUME_USED = Gauge(
    "groupie_data_volume_used_ratio",
    "Share of the volume used (as df counts it) that holds the SQLite database, the local "
    "keyring or the local media store, by its data directory; read at most once a minute.",
    ["path"],
    multiprocess_mode="max",
)
DATA_VOLUME_FREE = Gauge(
    "groupie_data_volume_free_bytes",
    "Bytes still available to groupie on that volume, by its data directory.",
    ["path"],
    multiprocess_mode="min",
)

# -- operations -----------------------------------------------------------------------------
AUDIT_ENTRIES = Counter(
    "groupie_audit_entries_total",
    "Audit log entries written, by channel (admin, api, command).",
    ["channel"],
)
COMMAND_RUNS = Counter(
    "groupie_command_runs_total",
    "Key lifecycle command runs, by command and outcome (ok, failed, refused, error). A "
    "command in its own process (a Cloud Run job) is seen through its log line instead.",
    ["command", "outcome"],
)
OPERATOR_ACTIONS = Counter(
    "groupie_operator_actions_total",
    "Operator actions done (search index on/off, purge, import, export, API key made or "
    "revoked, webhook set or deleted, media retries), by action and channel (admin, api, "
    "command): one per audit entry they write.",
    ["action", "channel"],
)
RETENTION_CHANGES = Counter(
    "groupie_retention_changes_total",
    "Retention periods set or cleared, by channel (admin, command) and change (set, cleared).",
    ["channel", "change"],
)
TELEGRAM_PENDING = Gauge(
    "groupie_telegram_pending_updates",
    "Updates Telegram holds for this bot's webhook (getWebhookInfo's pending_update_count).",
    multiprocess_mode="max",
)
TELEGRAM_LAST_ERROR = Gauge(
    "groupie_telegram_last_error_timestamp_seconds",
    "When Telegram last failed to deliver to the webhook (getWebhookInfo's last_error_date).",
    multiprocess_mode="max",
)
TELEGRAM_MAX_CONNECTIONS = Gauge(
    "groupie_telegram_max_connections",
    "The webhook's max_connections as Telegram reports it.",
    multiprocess_mode="max",
)
TELEGRAM_CHECK_ERRORS = Counter(
    "groupie_telegram_webhook_info_errors_total",
    "getWebhookInfo calls that failed (Telegram unreachable, or the token refused).",
)
TELEGRAM_CHECKED = Gauge(
    "groupie_telegram_webhook_info_timestamp_seconds",
    "When getWebhookInfo last answered, as a Unix time.",
    multiprocess_mode="max",
)
BOT_READS_ALL_MESSAGES = Gauge(
    "groupie_bot_can_read_all_group_messages",
    "1 when the bot's privacy mode is off (getMe's can_read_all_group_messages), else 0: "
    "then it sees every group message only where it is an administrator.",
    multiprocess_mode="max",
)
CHAT_BOT_MEMBER = Gauge(
    "groupie_chat_bot_member",
    "Per archived chat: 0 when Telegram reported the bot left or removed (my_chat_member), else 1.",
    ["chat_id"],
    multiprocess_mode="min",
)
CHAT_SEES_ALL_MESSAGES = Gauge(
    "groupie_chat_sees_all_messages",
    "Per archived chat: 1 when the bot sees every message (privacy mode off, or an "
    "administrator), 0 when the archive there is blind to all but commands and mentions.",
    ["chat_id"],
    multiprocess_mode="min",
)
CHAT_LAST_UPDATE = Gauge(
    "groupie_chat_last_update_timestamp_seconds",
    "Per archived chat: the date of the newest message or event archived (directory dates "
    "may lag a minute).",
    ["chat_id"],
    multiprocess_mode="max",
)
TELEGRAM_UPDATE_GAPS = Gauge(
    "groupie_telegram_update_gaps",
    "update_ids missing among those taken in over the last day: a signal that updates were "
    "lost (or numbered for kinds not asked for), not a proof (webhooks/gaps.py).",
    multiprocess_mode="max",
)

# -- media --------------------------------------------------------------------------------------
MEDIA_FETCHES = Counter(
    "groupie_media_fetches_total",
    "Media fetch attempts, by result: stored, retry (a transient failure, tried again later), "
    "failed (retries exhausted or refused for good), too_large, gone (the message was shredded "
    "or purged meanwhile).",
    ["result"],
)
MEDIA_BYTES = Counter("groupie_media_bytes_total", "Bytes of media fetched and sealed.")
MEDIA_FILES = Gauge(
    "groupie_media_files",
    "Media files by status (pending, stored, failed, too_large), counted at scrape time.",
    ["status"],
    multiprocess_mode="max",
)
MEDIA_OLDEST_PENDING = Gauge(
    "groupie_media_oldest_pending_seconds",
    "Age of the oldest media file still pending (0 when none): longer than the retries last "
    "(about 6 h) means its task was lost.",
    multiprocess_mode="max",
)
MEDIA_DOWNLOADS = Counter(
    "groupie_media_downloads_total",
    "Media files served decrypted, by channel (admin, api) and result (ok, failed).",
    ["channel", "result"],
)

# -- the process ------------------------------------------------------------------------------
MEMORY = Gauge(
    "groupie_process_resident_memory_bytes",
    "Resident memory of the server's worker processes, summed over the live ones.",
    multiprocess_mode="livesum",
)
CPU = Gauge(
    "groupie_process_cpu_seconds",
    "CPU time (user + system) the live worker processes have used, summed.",
    multiprocess_mode="livesum",
)
MEMORY_LIMIT = Gauge(
    "groupie_memory_limit_bytes",
    "The container's memory limit (cgroup memory.max), 0 when unlimited.",
    multiprocess_mode="max",
)
CPU_LIMIT = Gauge(
    "groupie_cpu_limit_cores",
    "CPUs the container may use (cgroup cpu.max quota / period, else the machine's count).",
    multiprocess_mode="max",
)
_PROCESS_EVERY = 1.0  # seconds between two readings of this process's usage
_last_reading = 0.0


def observe_process() -> None:
    """Records this process's memory and CPU, at most once a second (called per request)."""
    global _last_reading
    now = time.monotonic()
    if now - _last_reading < _PROCESS_EVERY:
        return
    _last_reading = now
    usage = resource.getrusage(resource.RUSAGE_SELF)
    CPU.set(usage.ru_utime + usage.ru_stime)
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        MEMORY.set(pages * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        MEMORY.set(usage.ru_maxrss * 1024)  # peak, where /proc is missing
    MEMORY_LIMIT.set(_memory_limit())
    CPU_LIMIT.set(_cpu_limit())


def _memory_limit() -> int:
    try:
        value = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return 0
    return int(value) if value.isdigit() else 0


def _cpu_limit() -> float:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    return float(os.cpu_count() or 1)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def registry() -> CollectorRegistry:
    """Every worker's samples under gunicorn (multiprocess mode), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        aggregated = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregated)
        return aggregated
    return REGISTRY


def token_matches(header: str | None) -> bool:
    token = settings.GROUPIE_METRICS_TOKEN
    given = header or ""
    expected = f"Bearer {token}"
    return hmac.compare_digest(given.encode(), expected.encode())


# Called before each scrape of /metrics: apps register what they refresh at scrape time
# (webhooks: Telegram's getWebhookInfo, cached).
SCRAPE_HOOKS: list[Callable[[], None]] = []


def metrics_view(request: HttpRequest) -> HttpResponse:
    if settings.GROUPIE_METRICS_PORT:
        raise Http404("metrics are served on their own port")
    if settings.GROUPIE_METRICS_TOKEN and not token_matches(request.headers.get("Authorization")):
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    for hook in SCRAPE_HOOKS:
        hook()
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


# -- the archive log (docs/transparency.md) ---------------------------------------------------
LOG_CHECKPOINT_AGE = Gauge(
    "groupie_log_checkpoint_age_seconds",
    "Age of the last published checkpoint of the archive log, at scrape time (-1 when none was "
    "ever published): growing past the publishing interval means publishing stopped.",
    multiprocess_mode="max",
)
LOG_PENDING_LEAVES = Counter(
    "groupie_log_leaves_sequenced_total", "Leaves the sequencer appended to the archive log."
)
