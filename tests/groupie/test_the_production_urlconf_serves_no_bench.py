"""The benchmark's baseline hook is served only by the benchmark's own settings and URLconf
(bench/settings.py, bench/urls.py): groupie's URLconf has no /bench/ route, whatever the
environment says."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import Resolver404, resolve


def test_the_production_urlconf_has_no_bench_route() -> None:
    assert settings.ROOT_URLCONF == "groupie.urls"
    with pytest.raises(Resolver404):
        resolve("/bench/hook/")
    assert not hasattr(settings, "GROUPIE_BENCH_BASELINE")


def test_the_bench_urlconf_adds_the_baseline_to_groupies_routes() -> None:
    assert resolve("/bench/hook/", urlconf="bench.urls").url_name == "bench-baseline-hook"
    assert (
        resolve("/telegram/webhook/", urlconf="bench.urls").func
        is resolve("/telegram/webhook/").func
    )
