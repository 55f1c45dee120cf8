"""groupie_log_checkpoint_age_seconds at scrape time (a scrape hook). Models are looked up
when called: the app registers the hook before they are loaded."""

from __future__ import annotations

from django.apps import apps
from django.db import DatabaseError
from django.utils import timezone

from groupie import metrics


def observe_checkpoint_age() -> None:
    """With the database down the gauge keeps its last value, as the media gauges do."""
    checkpoint = apps.get_model("archive", "LogCheckpoint")
    try:
        last = (
            checkpoint.objects.exclude(published_at=None)
            .order_by("-published_at")
            .values_list("published_at", flat=True)
            .first()
        )
    except DatabaseError:
        return
    age = (timezone.now() - last).total_seconds() if last else -1.0
    metrics.LOG_CHECKPOINT_AGE.set(age)
