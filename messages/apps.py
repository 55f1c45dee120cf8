from __future__ import annotations

from django.apps import AppConfig
from django.contrib.auth.signals import user_login_failed

from groupie import (
    checks,  # noqa: F401  (registers the deployment checks of check --deploy)
    metrics,
)
from groupie.datavolume import observe_data_volume
from messages.media.status import count_by_status
from messages.transparency.status import observe_checkpoint_age


class ArchiveConfig(AppConfig):
    name = "messages"
    # Not "messages": that label belongs to django.contrib.messages, which the admin needs.
    label = "archive"
    verbose_name = "Archive"

    def ready(self) -> None:
        metrics.SCRAPE_HOOKS.append(count_by_status)
        metrics.SCRAPE_HOOKS.append(observe_data_volume)
        metrics.SCRAPE_HOOKS.append(observe_checkpoint_age)
        user_login_failed.connect(metrics.count_login_failure, dispatch_uid="groupie-login-failed")
