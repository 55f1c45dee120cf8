"""What Telegram reports about the webhook reaches metrics (cached, one Bot API call a minute)
and the webhook_info command, through the real client against a loopback Bot API server."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from prometheus_client import REGISTRY

from webhooks import telegram_status
from webhooks.botapi import BotApi, BotApiError, NoToken

INFO = {
    "url": "https://archive.example.org/telegram/webhook/",
    "has_custom_certificate": False,
    "pending_update_count": 37,
    "last_error_date": 1_790_000_000,
    "last_error_message": "Wrong response from the webhook: 503 Service Unavailable",
    "max_connections": 40,
    "allowed_updates": ["message", "edited_message"],
}


@pytest.fixture(autouse=True)
def fresh_cache() -> Any:
    telegram_status.reset()
    yield
    telegram_status.reset()


def test_a_scrape_exports_the_backlog_and_asks_telegram_once_a_minute(
    client: Client, db: None, bot_api: Any
) -> None:
    bot_api.results["getWebhookInfo"] = INFO
    for _ in range(3):
        assert client.get("/metrics").status_code == 200
    # Once each in three scrapes: the webhook's backlog, and what the bot may read (getMe,
    # for groupie_bot_can_read_all_group_messages).
    assert sorted(bot_api.methods()) == ["getMe", "getWebhookInfo"]
    assert REGISTRY.get_sample_value("groupie_telegram_pending_updates") == 37
    assert REGISTRY.get_sample_value("groupie_telegram_max_connections") == 40
    assert REGISTRY.get_sample_value("groupie_telegram_last_error_timestamp_seconds") == 1.79e9


def test_a_failing_telegram_is_counted_and_the_scrape_still_answers(
    client: Client, db: None, bot_api: Any
) -> None:
    bot_api.fail("getWebhookInfo", 502, "Bad Gateway")
    before = REGISTRY.get_sample_value("groupie_telegram_webhook_info_errors_total") or 0
    assert client.get("/metrics").status_code == 200
    after = REGISTRY.get_sample_value("groupie_telegram_webhook_info_errors_total")
    assert after == before + 1


def test_errors_name_the_method_and_telegram_s_words_never_the_token(bot_api: Any) -> None:
    with pytest.raises(BotApiError) as refused:
        BotApi(token="999:wrong-token").get_webhook_info()
    assert str(refused.value).startswith("getWebhookInfo: HTTP 401: Unauthorized")
    assert "wrong-token" not in repr(refused.value)
    unreachable_api = BotApi(token=bot_api.token, base_url="http://127.0.0.1:9", attempts=1)
    with pytest.raises(BotApiError, match="Telegram unreachable") as unreachable:
        unreachable_api.call("getMe")
    assert bot_api.token not in str(unreachable.value)
    with pytest.raises(NoToken, match="TELEGRAM_TOKEN is not set"):
        BotApi(token="").call("getMe")
    with pytest.raises(ValueError, match="http"):
        BotApi(token="x", base_url="file:///etc")


def test_webhook_info_command(bot_api: Any) -> None:
    bot_api.results["getWebhookInfo"] = INFO
    out = StringIO()
    call_command("webhook_info", stdout=out)
    text = out.getvalue()
    assert "pending updates:  37" in text
    assert "2026-09-21T14:13:20+00:00: Wrong response from the webhook" in text
    out = StringIO()
    call_command("webhook_info", "--json", stdout=out)
    assert json.loads(out.getvalue())["pending_update_count"] == 37
    bot_api.token = "someone-else"
    with pytest.raises(CommandError, match="getWebhookInfo: HTTP 401: Unauthorized"):
        call_command("webhook_info", stdout=StringIO())


def test_it_waits_as_telegram_asks_on_429_and_retries_5xx(bot_api: Any) -> None:
    waits: list[float] = []
    api = BotApi(sleep=waits.append)
    bot_api.fail("getWebhookInfo", 429, "Too Many Requests: retry after 7", times=1, retry_after=7)
    assert api.get_webhook_info().url == ""
    bot_api.fail("getWebhookInfo", 502, "Bad Gateway", times=2)
    assert api.get_webhook_info().pending_update_count == 0
    assert waits == [7.0, 1, 2]  # Telegram's retry_after, then backoff
    assert bot_api.methods() == ["getWebhookInfo"] * 5
    bot_api.fail("getWebhookInfo", 502, "Bad Gateway")
    with pytest.raises(BotApiError, match="HTTP 502: Bad Gateway") as gave_up:
        api.get_webhook_info()
    assert gave_up.value.status == 502


def test_401_and_409_say_what_to_do(bot_api: Any) -> None:
    with pytest.raises(BotApiError, match="check TELEGRAM_TOKEN"):
        BotApi(token="1:not-the-bots-token").get_webhook_info()
    bot_api.webhook = {"url": "https://example.org/telegram/webhook/"}
    with pytest.raises(BotApiError, match="delete_webhook first") as conflict:
        BotApi().call("getUpdates", timeout=0)
    assert conflict.value.status == 409
