"""groupie_data_volume_* gauges: how full the volume is that holds one box's data.

On one box the SQLite database, the local keyring and the local media store live on one
volume (``/data`` in the image); when it fills, archiving fails with it. Each directory in use
is measured with ``statvfs`` (the figures ``df`` shows), once per device, at most once a
minute: a scrape hook, so a scrape every few seconds costs nothing. On Cloud Run nothing of
this is local (PostgreSQL, Cloud KMS, Cloud Storage) and no series is exported.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from groupie import metrics

REFRESH_SECONDS = 60.0
_last_refresh: float | None = None


def data_paths() -> list[Path]:
    """The local files and directories of the configured backends (database, keyring, media)."""
    paths = []
    database = settings.DATABASES["default"]
    if database["ENGINE"] in ("groupie.sqlite3", "django.db.backends.sqlite3"):
        name = str(database["NAME"])
        if name and name != ":memory:" and not name.startswith("file:"):
            paths.append(Path(name))
    for setting in (settings.GROUPIE_KEYRING, settings.GROUPIE_MEDIA_STORE):
        path = setting.get("OPTIONS", {}).get("path")
        if path:
            paths.append(Path(path))
    return paths


def _existing(path: Path) -> Path | None:
    """The path itself or its nearest existing parent (a media directory not yet created)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate if candidate.is_dir() else candidate.parent
    return None


def observe_data_volume(now: float | None = None) -> None:
    """Sets used ratio and free bytes per volume, labelled by the first data directory on it;
    does nothing when the last reading is under a minute old."""
    global _last_refresh
    now = time.monotonic() if now is None else now
    if _last_refresh is not None and now - _last_refresh < REFRESH_SECONDS:
        return
    _last_refresh = now
    seen: set[int] = set()
    for path in data_paths():
        directory = _existing(path)
        if directory is None:
            continue
        try:
            device = directory.stat().st_dev
            usage = os.statvfs(directory)
        except OSError:
            continue  # unreadable now: the gauge keeps its last value
        if device in seen:
            continue
        seen.add(device)
        used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
        available = usage.f_bavail * usage.f_frsize
        total = used + available
        label = str(directory)
        metrics.DATA_VOLUME_USED.labels(label).set(used / total if total else 0.0)
        metrics.DATA_VOLUME_FREE.labels(label).set(available)
