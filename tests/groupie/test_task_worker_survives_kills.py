"""The task worker under real gunicorn (GROUPIE_TASK_WORKER=1, as `make run` starts it): killed
at any moment it is started again, and a file whose download it was killed in ends up stored
with no command run; a download that drips bytes is given up by its deadline while the other
files are fetched beside it."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from django_tasks_db.models import DBTaskResult

from messages.models import MediaFile
from tests.conftest import load_update
from tests.gunicorn_server import running_gunicorn
from webhooks.demo_data import DEMO_MEDIA
from webhooks.loopback import BotApiPeer

PHOTO = (DEMO_MEDIA / "whiteboard.jpg").read_bytes()


@pytest.fixture
def peer() -> Iterator[BotApiPeer]:
    bot_api = BotApiPeer()
    yield bot_api
    bot_api.close()


def processes(bind: str, name: bytes) -> list[tuple[int, int]]:
    """(pid, parent pid) of the live processes of the server listening at ``bind`` whose
    command line holds ``name``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
            state, parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        ours = name in command and f"GUNICORN_BIND={bind}".encode() in environ
        if ours and state not in ("Z", "X"):
            found.append((int(proc.name), int(parent)))
    return found


TASK_WORKER = b"manage.py\0run_tasks"  # not its supervisor, `-m groupie.supervisor run_tasks`


def task_workers(bind: str) -> list[int]:
    return [pid for pid, _ in processes(bind, TASK_WORKER)]


def web_workers(bind: str) -> list[int]:
    found = processes(bind, b"gunicorn")
    pids = {pid for pid, _ in found}
    return [pid for pid, parent in found if parent in pids]


def wait_for(what: Callable[[], Any], seconds: float, message: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := what():
            return found
        time.sleep(0.05)
    raise AssertionError(message)


def photo(message_id: int, peer: BotApiPeer, content: bytes = PHOTO) -> dict[str, Any]:
    update = load_update("photo_with_caption")
    update["update_id"] += message_id
    update["message"]["message_id"] = message_id
    largest = update["message"]["photo"][-1]
    largest["file_id"] = f"photo-{message_id}"
    largest["file_unique_id"] = f"unique-{message_id}"
    largest.pop("file_size", None)
    peer.add_file(largest["file_id"], content, f"{message_id}.jpg")
    return update


def post(base: str, update: dict[str, Any]) -> None:
    secret = os.environ["WEBHOOK_SECRET"]
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    response = httpx.post(f"{base}/telegram/webhook/", json=update, headers=headers)
    assert response.status_code == 200


def files(directory: Path) -> dict[int, dict[str, Any]]:
    """The server's media records by message id, read from its database file."""
    with sqlite3.connect(directory / "groupie.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(f"SELECT * FROM {MediaFile._meta.db_table}").fetchall()  # noqa: S608
    return {row["message_id"]: dict(row) for row in rows}


def tasks(directory: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(directory / "groupie.db") as db:
        db.row_factory = sqlite3.Row
        table = DBTaskResult._meta.db_table
        return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]  # noqa: S608


def test_the_task_worker_is_started_again_however_often_it_is_killed(tmp_path: Path) -> None:
    # Four web workers are forked while the task worker first starts, and a web worker dies
    # with it each time (gunicorn forks another). When the master started the task worker
    # from a thread of its own, a fork at that moment kept subprocess's exec pipe open and the
    # thread never came back (about one run of this test in four failed so, here); and the
    # master's waitpid(-1) took its exit. Now a supervisor process of its own runs it.
    restart = {"GROUPIE_SUPERVISOR_DELAY": "0.3", "WEB_CONCURRENCY": "4"}
    with running_gunicorn(tmp_path, GROUPIE_TASK_WORKER="1", **restart) as base:
        bind = base.removeprefix("http://")
        masters = {pid for pid, parent in processes(bind, b"gunicorn") if parent == os.getpid()}
        killed: set[int] = set()
        for round_ in range(4):
            alive = wait_for(
                lambda: [p for p in task_workers(bind) if p not in killed],
                20,
                f"no task worker running {len(killed)} kills in",
            )
            [(_, parent)] = [(p, q) for p, q in processes(bind, TASK_WORKER) if p == alive[0]]
            assert parent not in masters  # its supervisor, not gunicorn's master, waits on it
            time.sleep(random.uniform(0, 0.3) if round_ else 0)  # noqa: S311 - any moment
            web = web_workers(bind)
            for pid in (alive[0], *web[:1]):
                os.kill(pid, signal.SIGKILL)
            killed.add(alive[0])
        wait_for(lambda: [p for p in task_workers(bind) if p not in killed], 20, "not restarted")
    log = (tmp_path / "server.log").read_text()
    assert log.count("run_tasks stopped (exit code -9") == 4


def test_a_file_whose_worker_was_killed_mid_download_is_stored_without_help(
    tmp_path: Path, peer: BotApiPeer
) -> None:
    settings = {"TELEGRAM_API_URL": peer.url, "TELEGRAM_TOKEN": peer.token}
    with running_gunicorn(
        tmp_path, GROUPIE_TASK_WORKER="1", GROUPIE_SUPERVISOR_DELAY="1", **settings
    ) as base:
        bind = base.removeprefix("http://")
        peer.drip(0.05)  # the first download hangs on; the next is served at once
        post(base, photo(4131, peer))
        wait_for(lambda: "download" in peer.methods(), 20, "the download never started")
        [worker] = task_workers(bind)
        os.kill(worker, signal.SIGKILL)
        assert files(tmp_path)[4131]["status"] == "pending"
        stored = wait_for(
            lambda: files(tmp_path)[4131]["status"] == "stored", 25, "the file was stranded"
        )
    assert stored
    row = files(tmp_path)[4131]
    assert (row["size"], row["attempts"]) == (len(PHOTO), 2)
    [task] = tasks(tmp_path)
    assert task["status"] == "SUCCESSFUL"
    killed, restarted = json.loads(task["worker_ids"])  # claimed by both, in turn
    assert killed.split(":")[1] == str(worker)
    assert restarted.split(":")[1] != str(worker)


def test_a_dripping_download_fails_by_its_deadline_and_others_are_fetched_meanwhile(
    tmp_path: Path, peer: BotApiPeer
) -> None:
    settings = {
        "TELEGRAM_API_URL": peer.url,
        "TELEGRAM_TOKEN": peer.token,
        "GROUPIE_MEDIA_FETCH_SECONDS": "3",
        "GROUPIE_TASK_CONCURRENCY": "2",
    }
    with running_gunicorn(
        tmp_path, GROUPIE_TASK_WORKER="1", GROUPIE_SUPERVISOR_DELAY="1", **settings
    ) as base:
        peer.drip(0.5)  # a byte every half second: the photo would take 8 hours
        post(base, photo(1, peer))
        wait_for(lambda: "download" in peer.methods(), 20, "the download never started")
        for message_id in (2, 3, 4):
            post(base, photo(message_id, peer))
        wait_for(
            lambda: files(tmp_path)[1]["attempts"] and files(tmp_path)[1]["last_error"],
            15,
            "the dripping download was not given up",
        )
        wait_for(
            lambda: all(files(tmp_path)[m]["status"] == "stored" for m in (2, 3, 4)),
            15,
            "the other files were not fetched",
        )
    rows = files(tmp_path)
    slow = rows[1]
    assert (slow["status"], slow["attempts"]) == ("pending", 1)
    assert slow["last_error"].startswith("download: too slow")
    # Given up by its deadline (3 s and the size at the minimum rate), not at a socket timeout.
    failed_at = _time(slow["next_attempt_at"]) - 30  # its first retry waits 30 s
    started_at = min(_time(rows[m]["created_at"]) for m in rows)
    assert failed_at - started_at < 8
    # The others did not wait for it.
    assert all(_time(rows[m]["fetched_at"]) < failed_at for m in (2, 3, 4))


def _time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()
