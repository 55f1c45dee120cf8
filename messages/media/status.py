"""groupie_media_files and groupie_media_oldest_pending_seconds at scrape time (a scrape
hook)."""

from __future__ import annotations

from django.apps import apps
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone

from groupie import metrics


def counts() -> dict[str, int]:
    """Files by status, every status named (0 when none): one grouped count."""
    media_file = apps.get_model("archive", "MediaFile")
    found = dict.fromkeys((status for status, _ in media_file.STATUSES), 0)
    rows = media_file.objects.values_list("status").annotate(n=Count("pk"))
    found.update(dict(rows.values_list("status", "n")))
    return found


def count_by_status() -> None:
    """One grouped count. With the database down the gauges keep their last values: metrics
    must still be served during an outage, to show it."""
    media_file = apps.get_model("archive", "MediaFile")
    pending = media_file.objects.filter(status=media_file.PENDING)
    try:
        by_status = counts()
        oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    except DatabaseError:
        return
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    metrics.MEDIA_OLDEST_PENDING.set(age)
    for status, n in by_status.items():
        metrics.MEDIA_FILES.labels(status).set(n)
