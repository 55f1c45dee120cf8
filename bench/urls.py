"""groupie's URLconf plus the ingest benchmark's baseline hook at /bench/hook/ (bench.settings)."""

from __future__ import annotations

from django.urls import include, path

from groupie.urls import urlpatterns as groupie_urlpatterns

urlpatterns = [*groupie_urlpatterns, path("bench/", include("bench.baseline"))]
