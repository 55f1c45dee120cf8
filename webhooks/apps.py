from __future__ import annotations

from django.apps import AppConfig

from groupie import metrics
from webhooks import bot_status
from webhooks.botapi import BotApi
from webhooks.telegram_status import refresh_if_stale


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Telegram webhooks"

    def ready(self) -> None:
        metrics.SCRAPE_HOOKS.append(_refresh_telegram_status)
        metrics.SCRAPE_HOOKS.append(_refresh_bot_status)


def _refresh_telegram_status() -> None:
    refresh_if_stale(BotApi(attempts=1))  # a scrape must stay quick


def _refresh_bot_status() -> None:
    bot_status.refresh_if_stale(BotApi(attempts=1))
