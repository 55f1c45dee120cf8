"""A test that leaves requests running on the live server (as a browser does when its page
closes) must not break the database for the tests after it: on in-memory SQLite the server's
threads share the test's connection, and the flush at the test's end would interleave with
them (tests/conftest.py waits for them first). Without that wait these fail now and then,
with "database table is locked" at the flush or a broken transaction after it."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request
from typing import Any

import pytest

from tests.conftest import Webhook


def ask(url: str) -> None:
    # A server gone at the end of the run: nothing to assert here.
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url, timeout=10).close()  # noqa: S310 - the live server


@pytest.mark.parametrize("round_", range(6))
def test_requests_left_running_as_the_test_ends(live_server: Any, round_: int) -> None:
    for _ in range(8):  # /readyz writes and rolls back in a transaction of its own
        threading.Thread(target=ask, args=(f"{live_server.url}/readyz",), daemon=True).start()
    time.sleep(0.01)


def test_the_next_test_archives_as_usual(transactional_db: None, webhook: Webhook) -> None:
    assert webhook.post_fixture("text_message").status_code == 200
