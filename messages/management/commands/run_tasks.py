"""manage.py run_tasks [--concurrency N] [--batch]: run queued background tasks (media
fetches, search index builds, checkpoint publishing) on one box, several at a time. At start
it queues the checkpoint-publishing chain when GROUPIE_CHECKPOINT_STORE is set and none is
queued (``messages.transparency.actions.ensure_publishing``)."""

from __future__ import annotations

import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from groupie.commands import ArchiveCommand
from groupie.taskworker import TaskWorkers
from messages.transparency.actions import ensure_publishing


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
        if ensure_publishing():
            self.stdout.write("run_tasks: checkpoint publishing queued (GROUPIE_CHECKPOINT_STORE)")
        workers.run()
