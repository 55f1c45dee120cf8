"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from pathlib import Path

from django.test import Client

from tests.conftest import Webhook


def test_healthz_answers_without_touching_anything(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_store_and_keyring(client: Client, db: None) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "store": "ok", "keyring": "ok"}


def test_readyz_names_the_failing_dependency(client: Client, db: None, keyring_path: Path) -> None:
    keyring_path.unlink()
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["keyring"].startswith("failed")
    assert checks["database"] == "ok"


def sample(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name))
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_archived_and_ignored_updates(webhook: Webhook) -> None:
    archived = 'groupie_updates_total{kind="message",outcome="created"}'
    ignored = 'groupie_updates_total{kind="callback_query",outcome="ignored"}'
    before = webhook.client.get("/metrics").content.decode()
    webhook.post_fixture("reply_message")
    webhook.post_fixture("callback_query")
    after = webhook.client.get("/metrics").content.decode()
    start = {name: sample(before, name) if name in before else 0.0 for name in (archived, ignored)}
    assert sample(after, archived) == start[archived] + 1
    assert sample(after, ignored) == start[ignored] + 1
