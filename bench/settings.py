"""The ingest benchmark's settings: groupie's own, served through the benchmark's URLconf.

bench/ingest.py runs its server with ``DJANGO_SETTINGS_MODULE=bench.settings`` so the baseline
hook (bench/baseline.py) is mounted at /bench/ beside the real webhook; groupie's production
URLconf and settings know nothing of it.
"""

from __future__ import annotations

from groupie.settings import *  # noqa: F403  (everything as groupie runs it, but the URLconf)

ROOT_URLCONF = "bench.urls"
