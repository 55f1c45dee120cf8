"""The chat-key cache says when it evicts keys still live (a cache too small for the chats
being written): groupie_chat_key_cache_evictions_total counts them."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.conftest import Webhook

pytestmark = pytest.mark.django_db


def _evictions(client: Client) -> float:
    text = client.get("/metrics").content.decode()
    line = next(
        (x for x in text.splitlines() if x.startswith("groupie_chat_key_cache_evictions_total")),
        "groupie_chat_key_cache_evictions_total 0",
    )
    return float(line.rsplit(" ", 1)[1])


def test_evictions_of_live_chat_keys_are_counted(webhook: Webhook, client: Client) -> None:
    cache = {"TTL_SECONDS": 600, "MAX_KEYS": 1}
    with override_settings(GROUPIE_CHAT_KEY_CACHE=cache):
        before = _evictions(client)
        for name in ("text_message", "private_message", "channel_post"):  # three chats
            assert webhook.post_fixture(name).status_code == 200
        assert _evictions(client) - before >= 2
