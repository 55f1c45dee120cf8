"""Requests at once on the live server, some still running as the test ends (as a browser's
page and its images are), must not break the database for the tests after them. On in-memory
SQLite the server's threads share the test's one connection: tests/conftest.py has the server
answer one request at a time there, and each test wait for the last before its flush.
Without those, these fail with "database table is locked", a UNIQUE constraint failed on
/readyz's probe row, or a transaction broken for every later test."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import Webhook, load_update


def ask(url: str, body: bytes | None = None) -> None:
    headers = {"Content-Type": "application/json"}
    if body is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = settings.WEBHOOK_SECRET
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - the live server
    # A server gone at the end of the run: nothing to assert here.
    with contextlib.suppress(OSError):
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - the live server


def update(number: int) -> bytes:
    body = load_update("text_message")
    body["update_id"] += number
    body["message"]["message_id"] += number
    return json.dumps(body).encode()


@pytest.mark.parametrize("round_", range(6))
def test_requests_at_once_some_left_running_as_the_test_ends(live_server: Any, round_: int) -> None:
    threads = [
        threading.Thread(target=ask, args=(f"{live_server.url}/readyz",), daemon=True)
        for _ in range(8)
    ] + [
        threading.Thread(
            target=ask, args=(f"{live_server.url}/telegram/webhook/", update(n)), daemon=True
        )
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.01)


def test_the_next_test_archives_as_usual(transactional_db: None, webhook: Webhook) -> None:
    assert webhook.post_fixture("text_message").status_code == 200
