"""manage.py run_tasks [--concurrency N] [--batch]: run queued background tasks (media
fetches, search index builds) on one box, several at a time."""

from __future__ import annotations

import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from groupie.taskworker import TaskWorkers


class Command(ArchiveCommand):
    help = (
        "Runs the tasks queued in the database (GROUPIE_TASKS=database), several at a time, and "
        "queues again those of a worker that died. SIGTERM or Ctrl-C lets running tasks finish; "
        "a second one stops at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.GROUPIE_TASK_CONCURRENCY,
            help="Tasks run at a time (default GROUPIE_TASK_CONCURRENCY, %(default)s).",
        )
        parser.add_argument("--batch", action="store_true", help="Run what is due, then stop.")
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds between two looks at an empty queue (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = TaskWorkers(
            options["concurrency"], interval=options["interval"], batch=options["batch"]
        )

        def stop(*_: object) -> None:
            if workers.stopping.is_set():
                sys.exit(1)  # asked twice: running tasks are dropped (and reclaimed later)
            workers.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
        workers.run()
