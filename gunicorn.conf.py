"""Gunicorn settings for `make run`, the benchmarks and the container (PORT, WEB_CONCURRENCY)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# gunicorn reads this file before it puts the project on sys.path: do it here, for the log
# format below (groupie.logging needs no Django and no settings).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from groupie import supervisor
from groupie.logging import logging_config

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8080')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Telegram waits about 60 s for an answer; give up well before so it can redeliver.
timeout = 30
graceful_timeout = 20
# No access log of gunicorn's: groupie's middleware logs one line per request, by route name,
# with Cloud Logging's httpRequest (raw paths can carry the legacy webhook secret). gunicorn's
# own lines (start, workers, timeouts) take the same format as the app's: JSON or text.
accesslog = None
logconfig_dict = logging_config(
    log_format=os.environ.get("GROUPIE_LOG_FORMAT", "json"),
    level=os.environ.get("GROUPIE_LOG_LEVEL", "INFO"),
    project=os.environ.get("GCP_PROJECT_ID", ""),
)


# Each worker keeps its own counters; Prometheus' multiprocess mode shares them through files in
# this directory so /metrics shows the whole server whichever worker answers. Set here, in the
# master, before any worker imports prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="groupie-metrics-"))


def child_exit(server: object, worker: object) -> None:
    """Lets Prometheus' multiprocess mode drop a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def post_worker_init(worker: object) -> None:
    """Each worker, once Django is loaded, says at once if the keyring does not match the
    archive (readiness refuses traffic for the same reason)."""
    from messages.health import warn_at_start_up

    warn_at_start_up()


def when_ready(server: object) -> None:
    _serve_metrics()
    # Commands kept running beside the server, each under its own supervisor process, started
    # here in the master's main thread (groupie/supervisor.py says why).
    if os.environ.get("GROUPIE_TASK_WORKER") == "1":
        # The task worker (media fetches, search builds). One that was killed leaves its tasks
        # RUNNING: the next one queues them again at its start (groupie/taskworker.py).
        _SUPERVISED.append(supervisor.spawn(["run_tasks"]))
    if os.environ.get("GROUPIE_POLLER") == "1":
        # make run with TELEGRAM_TOKEN set: archive the bot's updates by polling, and poll
        # again after the poller stops (a webhook set meanwhile, the network down).
        _SUPERVISED.append(supervisor.spawn(["poll_updates"]))


def on_exit(server: object) -> None:
    for process in _SUPERVISED:
        process.terminate()  # the task worker lets its running tasks finish
    for process in _SUPERVISED:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


_SUPERVISED: list[subprocess.Popen[bytes]] = []


def _serve_metrics() -> None:
    """With GROUPIE_METRICS_PORT set, the master serves every worker's metrics on that port
    (127.0.0.1 unless GROUPIE_METRICS_BIND says otherwise), for a sidecar in the same
    instance; the app's /metrics then answers 404. prometheus_client is imported here, not at
    the top: it must see PROMETHEUS_MULTIPROC_DIR (set above) before the workers fork."""
    port = int(os.environ.get("GROUPIE_METRICS_PORT") or 0)
    if not port:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

    class ScrapeHooks(Collector):
        """Yields nothing: collecting runs the apps' scrape hooks (Telegram's webhook gauges,
        cached a minute; the media files by status), as /metrics does, before the
        multiprocess collector reads what they set."""

        def collect(self) -> list[Metric]:
            import django

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupie.settings")
            django.setup()
            from django.db import connections

            from groupie import metrics

            for hook in metrics.SCRAPE_HOOKS:
                hook()
            connections.close_all()  # the master keeps no database connection
            return []

    registry = CollectorRegistry()
    registry.register(ScrapeHooks())
    multiprocess.MultiProcessCollector(registry)
    bind = os.environ.get("GROUPIE_METRICS_BIND", "127.0.0.1")
    start_http_server(port, addr=bind, registry=registry)
