"""The task worker (``run_tasks``) queues the checkpoint-publishing chain at start when
GROUPIE_CHECKPOINT_STORE is set: the checkpoint is published, the next run queued, and a
worker started again does not start a second chain; without a store, nothing is queued."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from messages.transparency.actions import PUBLISHING_TASK, ensure_publishing
from tests.conftest import Webhook

# The worker runs its tasks on connections of its own threads: they must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def run_tasks() -> str:
    out = StringIO()
    call_command("run_tasks", "--batch", "--concurrency", "1", "--interval", "0", stdout=out)
    return out.getvalue()


def publishing(status: str) -> int:
    return DBTaskResult.objects.filter(task_path=PUBLISHING_TASK, status=status).count()


@pytest.fixture
def published(settings: Any, tmp_path: Path) -> Path:
    settings.GROUPIE_CHECKPOINT_STORE = str(tmp_path / "published")
    settings.GROUPIE_CHECKPOINT_MINUTES = 10
    return tmp_path / "published"


def test_the_worker_starts_one_publishing_chain_and_no_second(
    published: Path, webhook: Webhook
) -> None:
    assert webhook.post_fixture("text_message").status_code == 200
    assert "checkpoint publishing queued" in run_tasks()
    [note] = published.glob("checkpoints/*/*.note")
    assert note.read_text().splitlines()[1] == "1"  # the tree's size: the one message
    assert publishing(TaskResultStatus.SUCCESSFUL) == 1
    assert publishing(TaskResultStatus.READY) == 1  # the next run, ten minutes on

    assert "checkpoint publishing queued" not in run_tasks()  # a worker started again
    assert publishing(TaskResultStatus.READY) == 1
    assert not ensure_publishing()
    assert publishing(TaskResultStatus.READY) == 1


def test_without_a_checkpoint_store_nothing_is_queued(db: None, settings: Any) -> None:
    settings.GROUPIE_CHECKPOINT_STORE = ""
    run_tasks()
    assert not DBTaskResult.objects.filter(task_path=PUBLISHING_TASK).exists()
