"""The real server (gunicorn, 2 workers): every line it writes, its own included, is one JSON
object; the metrics port serves every worker's samples and Telegram's backlog, and the app's
/metrics is then closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.peers.botapi import BotApiPeer
from tests.test_nothing_at_rest_in_plaintext import ROOT, _free_port, _wait_until_up


@pytest.fixture
def telegram() -> Iterator[BotApiPeer]:
    peer = BotApiPeer()
    peer.results["getWebhookInfo"] = {"url": "", "pending_update_count": 12}
    yield peer
    peer.close()


def test_json_lines_and_the_metrics_port(tmp_path: Path, telegram: BotApiPeer) -> None:
    port, metrics_port = _free_port(), _free_port()
    env: dict[str, Any] = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'groupie.db'}",
        "LOCAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "WEBHOOK_SECRET": "server-secret_42",
        "GROUPIE_LOG_LEVEL": "INFO",
        "GROUPIE_LOG_FORMAT": "json",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GROUPIE_METRICS_PORT": str(metrics_port),
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_TOKEN": telegram.token,
        "WEB_CONCURRENCY": "2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "-v0"], ["init_keyring"]):
        subprocess.run([*manage, *command], env=env, check=True, capture_output=True)
    log_path = tmp_path / "server.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(gunicorn), "groupie.wsgi", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base)
            headers = {"X-Telegram-Bot-Api-Secret-Token": "server-secret_42"}
            body = (FIXTURES / "text_message.json").read_bytes()
            for _ in range(6):  # over both workers, most likely
                assert httpx.post(f"{base}/telegram/webhook/", content=body, headers=headers)
            assert httpx.get(f"{base}/metrics").status_code == 404
            scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert 'groupie_updates_total{kind="message",outcome="created"} 1.0' in scraped
    assert 'groupie_updates_total{kind="message",outcome="duplicate"} 5.0' in scraped
    assert "groupie_telegram_pending_updates 12.0" in scraped
    assert telegram.methods() == ["getWebhookInfo"]
    lines = log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    loggers = {record["logger"] for record in records}
    assert "gunicorn.error" in loggers  # gunicorn's own start-up lines
    assert "groupie.access" in loggers
    assert all(record["severity"] in {"INFO", "WARNING", "ERROR"} for record in records)
