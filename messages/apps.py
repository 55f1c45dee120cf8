from __future__ import annotations

from django.apps import AppConfig

from groupie import (
    checks,  # noqa: F401  (registers the deployment checks of check --deploy)
    metrics,
)
from messages.media.status import count_by_status


class ArchiveConfig(AppConfig):
    name = "messages"
    # Not "messages": that label belongs to django.contrib.messages, which the admin needs.
    label = "archive"
    verbose_name = "Archive"

    def ready(self) -> None:
        metrics.SCRAPE_HOOKS.append(count_by_status)
