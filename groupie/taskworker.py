"""The task worker of one box (``manage.py run_tasks``; gunicorn's master runs it under
GROUPIE_TASK_WORKER=1): django-tasks' database worker, several tasks at a time, which takes
back the tasks of a worker that died.

django-tasks-db claims a task by marking it RUNNING and appending the worker's id to its
``worker_ids``; nothing moves it on if that worker is killed (SIGKILL, out of memory, the box
restarted), so the task, and the file it was fetching, would wait for an operator for good.
Here each worker's id says where it runs, ``host:pid:start.thread`` (``start``: the process's
start time, so that a pid used again by another process does not pass for the dead worker).
At start and every RECLAIM_SECONDS, a worker puts back in the queue (READY) every RUNNING task

- whose worker ran on this host and is no longer running (exact, at once), or
- which has been running longer than GROUPIE_TASK_LEASE_SECONDS (a worker on another host,
  which cannot be asked: that container was replaced, say).

A task whose worker died under it MAX_CLAIMS times is marked failed instead, so that a task
that brings its worker down (memory) cannot do so for ever.

Several tasks run at a time (GROUPIE_TASK_CONCURRENCY threads, each django-tasks-db's own
worker loop with its own database connection): one slow download does not hold up the others.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django_tasks_db.compat import DEFAULT_TASK_QUEUE_NAME, TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)
RECLAIM_SECONDS = 60.0
MAX_CLAIMS = 3
LOST = "groupie.taskworker.WorkerLost"


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks after boot, /proc/PID/stat field 22), or None
    where there is no /proc or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return stat.rsplit(")", 1)[1].split()[19]


def process_id() -> str:
    """This process's part of its workers' ids: host, pid and start time."""
    host = socket.gethostname()[:24].replace(":", "-")
    return f"{host}:{os.getpid()}:{_start_time(os.getpid()) or 0}"


def _gone(worker_id: str, host: str) -> bool:
    """Whether ``worker_id`` names a worker process of this host that is no longer running.
    False for another host's worker (the lease covers those)."""
    parts = worker_id.split(".", 1)[0].split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid, start = int(parts[1]), parts[2]
    if start != "0":
        return _start_time(pid) != start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Reclaimed:
    queued: int = 0
    failed: int = 0


def reclaim(lease: timedelta | None = None) -> Reclaimed:
    """Puts back in the queue the RUNNING tasks whose worker is gone (see the module's
    docstring); returns how many were queued again and how many given up."""
    lease = lease or timedelta(seconds=settings.GROUPIE_TASK_LEASE_SECONDS)
    host = process_id().split(":", 1)[0]
    now = timezone.now()
    done = Reclaimed()
    for task in DBTaskResult.objects.running().only("pk", "started_at", "worker_ids"):
        last = task.worker_ids[-1] if task.worker_ids else ""
        expired = task.started_at is None or task.started_at < now - lease
        if not expired and not _gone(str(last), host):
            continue
        with transaction.atomic():
            # Only if it is still the run we saw: its worker may have finished it meanwhile.
            same = DBTaskResult.objects.filter(
                pk=task.pk, status=TaskResultStatus.RUNNING, started_at=task.started_at
            )
            if len(task.worker_ids) >= MAX_CLAIMS:
                done.failed += same.update(
                    status=TaskResultStatus.FAILED,
                    finished_at=now,
                    exception_class_path=LOST,
                    traceback=f"its worker died under it {len(task.worker_ids)} times",
                )
            else:
                done.queued += same.update(status=TaskResultStatus.READY, started_at=None)
    if done.queued or done.failed:
        logger.warning(
            "task worker: %s tasks of workers that died queued again, %s given up",
            done.queued,
            done.failed,
        )
    return done


class TaskWorkers:
    """``concurrency`` django-tasks-db worker loops in threads of this process, and the
    reclaiming above. ``batch``: run what is due, then return (tests, one-off runs)."""

    def __init__(self, concurrency: int, *, interval: float = 1.0, batch: bool = False) -> None:
        if concurrency < 1:
            raise ValueError("the task worker needs a concurrency of at least 1")
        base = process_id()
        self.workers = [
            Worker(
                queue_names=[DEFAULT_TASK_QUEUE_NAME],
                interval=interval,
                batch=batch,
                backend_name="default",
                startup_delay=False,
                max_tasks=None,
                worker_id=f"{base}.{n}",
                excluded_queue_names=[],
            )
            for n in range(concurrency)
        ]
        self.stopping = threading.Event()

    def run(self) -> None:
        """Runs until ``stop`` (or, in batch mode, until nothing is due)."""
        reclaim()
        threads = [
            threading.Thread(target=self._loop, args=(w,), name=f"task-worker-{n}", daemon=True)
            for n, w in enumerate(self.workers)
        ]
        for thread in threads:
            thread.start()
        logger.info("task worker: %s at a time", len(threads))
        due = time.monotonic() + RECLAIM_SECONDS
        while any(thread.is_alive() for thread in threads) and not self.stopping.wait(0.5):
            if time.monotonic() >= due:
                reclaim()
                connections.close_all()
                due = time.monotonic() + RECLAIM_SECONDS
        for thread in threads:
            thread.join()
        connections.close_all()

    def stop(self) -> None:
        """Lets each worker finish the task it runs, then stop."""
        for worker in self.workers:
            worker.running = False
        self.stopping.set()

    @staticmethod
    def _loop(worker: Worker) -> None:
        try:
            worker.run()
        finally:
            connections.close_all()  # this thread's connection
