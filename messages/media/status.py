"""groupie_media_files at scrape time: the media files by status (a scrape hook)."""

from __future__ import annotations

from django.apps import apps
from django.db.models import Count

from groupie import metrics


def count_by_status() -> None:
    media_file = apps.get_model("archive", "MediaFile")
    counts = dict.fromkeys((status for status, _ in media_file.STATUSES), 0)
    rows = media_file.objects.values_list("status").annotate(n=Count("pk"))
    counts.update(dict(rows.values_list("status", "n")))
    for status, n in counts.items():
        metrics.MEDIA_FILES.labels(status).set(n)
