"""A task left RUNNING by a worker that died is queued again: at once when that worker ran on
this host, after GROUPIE_TASK_LEASE_SECONDS when it ran elsewhere; never while its worker
lives; and given up once its worker died under it MAX_CLAIMS times."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from groupie.taskworker import LOST, MAX_CLAIMS, process_id, reclaim
from messages.models import MediaFile
from tests.conftest import Webhook, load_update
from webhooks.demo_data import DEMO_MEDIA
from webhooks.loopback import BotApiPeer
from webhooks.media import fetch_media

pytestmark = pytest.mark.django_db(transaction=True)


def dead_worker() -> str:
    """The id a worker of this host had, whose process has ended."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = process_id().split(":")[0]
    return f"{host}:{child.stdout.strip()}:12345.0"


def running(*worker_ids: str, started: timedelta = timedelta(0)) -> DBTaskResult:
    result = fetch_media.enqueue(1)
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", worker_ids=list(worker_ids), started_at=timezone.now() - started
    )
    return DBTaskResult.objects.get(pk=result.id)


def status(task: DBTaskResult) -> str:
    task.refresh_from_db()
    return str(task.status)


def test_only_the_tasks_of_workers_that_are_gone_are_queued_again() -> None:
    of_the_dead = running(dead_worker())
    of_a_live_one = running(f"{process_id()}.0")
    elsewhere_lately = running("other-host:41:999.0", started=timedelta(minutes=5))
    elsewhere_long_ago = running("other-host:42:999.0", started=timedelta(hours=2))
    assert (reclaim().queued, reclaim().queued) == (2, 0)
    assert status(of_the_dead) == "READY"
    assert status(of_a_live_one) == "RUNNING"
    assert status(elsewhere_lately) == "RUNNING"
    assert status(elsewhere_long_ago) == "READY"
    of_the_dead.refresh_from_db()
    assert of_the_dead.started_at is None


def test_a_task_that_kills_its_worker_again_and_again_is_given_up() -> None:
    task = running(*[dead_worker() for _ in range(MAX_CLAIMS)])
    assert reclaim().failed == 1
    task.refresh_from_db()
    assert (task.status, task.exception_class_path) == ("FAILED", LOST)
    assert f"died under it {MAX_CLAIMS} times" in task.traceback


def test_the_worker_fetches_a_file_whose_worker_died_without_anyone_asking(
    webhook: Webhook, bot_api: BotApiPeer, media_path: Any
) -> None:
    update = load_update("photo_with_caption")
    photo = (DEMO_MEDIA / "whiteboard.jpg").read_bytes()
    bot_api.add_file(update["message"]["photo"][-1]["file_id"], photo)
    assert webhook.post(update).status_code == 200
    # A worker claimed the fetch, then was killed.
    DBTaskResult.objects.update(
        status="RUNNING", worker_ids=[dead_worker()], started_at=timezone.now()
    )
    call_command("run_tasks", "--batch", "--concurrency", "1", "--interval", "0", stdout=StringIO())
    row = MediaFile.objects.get()
    assert (row.status, row.size) == ("stored", len(photo))
    task = DBTaskResult.objects.get()
    assert task.status == "SUCCESSFUL"
    assert len(task.worker_ids) == 2
