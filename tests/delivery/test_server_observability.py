"""The real server (gunicorn, 2 workers): every line it writes, its own included, is one JSON
object; the metrics port serves every worker's samples and Telegram's backlog, and the app's
/metrics is then closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.gunicorn_server import free_port, running_gunicorn
from webhooks.loopback import BotApiPeer


@pytest.fixture
def telegram() -> Iterator[BotApiPeer]:
    peer = BotApiPeer()
    peer.results["getWebhookInfo"] = {"url": "", "pending_update_count": 12}
    yield peer
    peer.close()


def test_json_lines_and_the_metrics_port(tmp_path: Path, telegram: BotApiPeer) -> None:
    metrics_port = free_port()
    with running_gunicorn(
        tmp_path,
        WEBHOOK_SECRET="server-secret_42",
        GROUPIE_LOG_FORMAT="json",
        GROUPIE_METRICS_PORT=str(metrics_port),
        TELEGRAM_API_URL=telegram.url,
        TELEGRAM_TOKEN=telegram.token,
        WEB_CONCURRENCY="2",
    ) as base:
        headers = {"X-Telegram-Bot-Api-Secret-Token": "server-secret_42"}
        body = (FIXTURES / "text_message.json").read_bytes()
        for _ in range(6):  # over both workers, most likely
            assert httpx.post(f"{base}/telegram/webhook/", content=body, headers=headers)
        assert httpx.get(f"{base}/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert 'groupie_updates_total{kind="message",outcome="created"} 1.0' in scraped
    assert 'groupie_updates_total{kind="message",outcome="duplicate"} 5.0' in scraped
    assert "groupie_telegram_pending_updates 12.0" in scraped
    assert sorted(telegram.methods()) == ["getMe", "getWebhookInfo"]  # backlog; can it read all
    lines = (tmp_path / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    loggers = {record["logger"] for record in records}
    assert "gunicorn.error" in loggers  # gunicorn's own start-up lines
    assert "groupie.access" in loggers
    assert all(record["severity"] in {"INFO", "WARNING", "ERROR"} for record in records)
