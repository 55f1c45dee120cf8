"""`make run` with TELEGRAM_TOKEN polls through gunicorn's master (GROUPIE_POLLER=1), which
starts poll_updates again whenever it stops: here it stops because a webhook is set, says so in
one line, and once the webhook is gone the next start archives the waiting update. On a
terminal (text logs) each polled update is one line: kind, ids, outcome, never content."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from groupie.supervisor import Supervised
from tests import ROOT
from tests.conftest import FIXTURES
from tests.gunicorn_server import running_gunicorn
from webhooks.loopback import TOKEN, BotApiPeer


@pytest.fixture
def peer() -> Iterator[BotApiPeer]:
    telegram = BotApiPeer()
    yield telegram
    telegram.close()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_poller_is_started_again_after_it_stops_and_says_each_update(
    tmp_path: Path, peer: BotApiPeer, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "groupie.db"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "LOCAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "GROUPIE_MEDIA_PATH": str(tmp_path / "media"),
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": peer.url,
        "GROUPIE_LOG_FORMAT": "text",
        "GROUPIE_LOG_LEVEL": "INFO",
    }
    for command in (["migrate", "-v0"], ["init_keyring"]):
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *command], env=env, check=True, timeout=120
        )
    peer.webhook = {"url": "https://groupie.example/telegram/webhook/"}
    update = json.loads((FIXTURES / "text_message.json").read_text())
    peer.updates.append(update)

    log = tmp_path / "poller.log"
    with log.open("wb") as output:
        poller = Supervised(
            ["poll_updates", "--timeout", "1"],
            first_delay=0.2,
            logger=logging.getLogger("tests.supervisor"),
            output=output,
            env=env,
        )
        caplog.set_level(logging.WARNING, "tests.supervisor")
        poller.start()
        try:
            wait_for(lambda: poller.starts >= 2, "a second start")
            # The first stop: the poller's reason, then the supervisor's one line.
            assert "a webhook is set (https://groupie.example/" in log.read_text()
            stops = [r.getMessage() for r in caplog.records if r.name == "tests.supervisor"]
            assert stops[0] == (
                "poll_updates stopped (exit code 1; its last lines say why); "
                "starting it again in 0 s"
            )
            peer.webhook = {}
            wait_for(lambda: "polled update" in log.read_text(), "the update polled")
        finally:
            poller.stop()
    assert poller.process is not None
    assert poller.process.poll() is not None

    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM archive_message").fetchone() == (1,)
    message = update["message"]
    [line] = [line for line in log.read_text().splitlines() if "polled update" in line]
    assert "polled update: created" in line
    assert f"chat_id={message['chat']['id']}" in line
    assert "update_kind=message" in line
    assert message["text"] not in line
    assert message["from"]["first_name"] not in line


def test_the_poller_is_stopped_with_the_server_and_not_started_again() -> None:
    poller = Supervised(["help"], first_delay=0.05, output=subprocess.DEVNULL)
    poller.stop()
    poller.start()
    time.sleep(0.3)
    assert poller.starts == 0


def test_gunicorn_runs_the_poller_when_make_run_asks_and_starts_it_again(
    tmp_path: Path, peer: BotApiPeer
) -> None:
    peer.webhook = {"url": "https://groupie.example/telegram/webhook/"}
    update = json.loads((FIXTURES / "text_message.json").read_text())
    peer.updates.append(update)
    settings = {
        "GROUPIE_POLLER": "1",
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": peer.url,
        "GROUPIE_LOG_FORMAT": "text",
    }
    log = tmp_path / "server.log"
    with running_gunicorn(tmp_path, **settings):
        wait_for(lambda: "poll_updates stopped (exit code 1" in log.read_text(), "a stop")
        peer.webhook = {}
        wait_for(lambda: "polled update: created" in log.read_text(), "the update polled")
    said = log.read_text()
    assert "CommandError: a webhook is set (https://groupie.example/" in said
    assert "starting it again in 5 s" in said
    # Stopped with the server: the poller's summary, once.
    assert said.count("poll_updates: 1 archived") == 1
