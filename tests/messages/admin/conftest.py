"""Each admin test starts with an empty cache: the index and the statistics cache what they
counted, and a test's demo archive is not the previous test's."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()
