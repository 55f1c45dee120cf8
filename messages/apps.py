from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save, pre_delete

from groupie import (
    checks,  # noqa: F401  (registers the deployment checks of check --deploy)
    metrics,
)
from groupie.datavolume import observe_data_volume
from messages.media.status import count_by_status
from messages.signin import outcome, sessions
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
        # Sign-ins and failures audited; sessions indexed by user, ended when it is deactivated.
        user_login_failed.connect(outcome.sign_in_failed, dispatch_uid="groupie-sign-in-failed")
        user_logged_in.connect(outcome.signed_in, dispatch_uid="groupie-signed-in")
        user_logged_in.connect(sessions.remember, dispatch_uid="groupie-session-index")
        user_logged_out.connect(sessions.forget, dispatch_uid="groupie-session-unindex")
        post_save.connect(
            sessions.user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="groupie-user-saved"
        )
        pre_delete.connect(
            sessions.user_deleting,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="groupie-user-deleting",
        )
