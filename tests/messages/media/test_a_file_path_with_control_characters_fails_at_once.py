"""A getFile answer whose file_path holds a control character (a CR LF, say) can never be
fetched: the file fails at once with that reason, not retried for hours as "unexpected
InvalidURL"."""

from __future__ import annotations

from typing import Any

import pytest

from messages.models import MediaFile
from tests.conftest import Webhook, load_update
from webhooks.loopback import BotApiPeer

pytestmark = pytest.mark.django_db(transaction=True)  # the worker commits for real


@pytest.mark.parametrize("path", ["documents/0-a\r\nb.jpg", "documents/0-a\x00.jpg"])
def test_it_fails_at_once_saying_why(
    webhook: Webhook, bot_api: BotApiPeer, run_worker: Any, path: str
) -> None:
    bot_api.results["getFile"] = {"file_id": "x", "file_path": path}
    assert webhook.post(load_update("photo_with_caption")).status_code == 200
    run_worker()
    row = MediaFile.objects.get()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == (
        "getFile: Telegram gave a file_path with control characters (it cannot be fetched)"
    )
    assert "download" not in bot_api.methods()
