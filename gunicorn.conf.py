"""Gunicorn settings for `make run`, the benchmarks and the container (PORT, WEB_CONCURRENCY)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
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
    if os.environ.get("GROUPIE_TASK_WORKER") == "1":
        _TaskWorker().start()
    if os.environ.get("GROUPIE_POLLER") == "1":
        # make run with TELEGRAM_TOKEN set: archive the bot's updates by polling, and poll
        # again after the poller stops (a webhook set meanwhile, the network down). Its own
        # process, started here in the master's main thread (groupie/supervisor.py says why).
        _POLLER.append(supervisor.spawn(["poll_updates"]))


def on_exit(server: object) -> None:
    if _TaskWorker.running is not None:
        _TaskWorker.running.stop()
    for process in _POLLER:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


_POLLER: list[subprocess.Popen[bytes]] = []


class _TaskWorker:
    """GROUPIE_TASK_WORKER=1: the master also runs the task worker (``manage.py run_tasks``,
    which fetches media) as a child process, started again whenever it dies, stopped with the
    server. One process to run on one box (make run, a single container); on Cloud Run, Cloud
    Tasks calls the service instead (GROUPIE_TASKS). The tasks a killed worker was running are
    queued again by the next one (groupie/taskworker.py).

    The child is started with ``os.posix_spawn``, not ``subprocess``: subprocess waits for the
    child's exec on a pipe, and a gunicorn worker forked by the master at that moment inherits
    the pipe's write end and holds it open for its whole life, so that this thread never came
    back to restart the task worker after it died (about one start in five, when gunicorn
    forked its workers at the same time: tests/test_task_worker_survives_kills.py)."""

    running: _TaskWorker | None = None
    # Not at once: a worker that cannot start must not spin. Tests make it shorter.
    RESTART_SECONDS = float(os.environ.get("GROUPIE_TASK_WORKER_RESTART_SECONDS", "5"))

    def __init__(self) -> None:
        self.pid: int | None = None
        self.stopping = threading.Event()

    def start(self) -> None:
        _TaskWorker.running = self
        threading.Thread(target=self._supervise, name="task-worker", daemon=True).start()

    def _supervise(self) -> None:
        manage = str(Path(__file__).resolve().parent / "manage.py")
        log = logging.getLogger("gunicorn.error")
        while not self.stopping.is_set():
            self.pid = os.posix_spawn(
                sys.executable, [sys.executable, manage, "run_tasks"], os.environ
            )
            code = _wait(self.pid)
            if self.stopping.is_set():
                return
            log.warning(
                "the task worker exited (%s); starting it again in %.0f s",
                code,
                self.RESTART_SECONDS,
            )
            self.stopping.wait(self.RESTART_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)  # running tasks finish
            for _ in range(150):
                if _exited(self.pid):
                    return
                time.sleep(0.1)
            os.kill(self.pid, signal.SIGKILL)


def _wait(pid: int) -> str:
    """Waits for the child ``pid`` to end; says how it did. The master reaps every child on
    SIGCHLD (waitpid(-1)), so it may take the exit status first: then it is unknown."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"code {os.waitstatus_to_exitcode(status)}"


def _exited(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


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
