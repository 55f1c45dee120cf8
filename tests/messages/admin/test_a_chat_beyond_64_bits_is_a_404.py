"""An id beyond 64 bits names no chat or message in the admin: a 404, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import staff_client

pytestmark = pytest.mark.django_db
TOO_BIG = "9999999999999999999"  # 19 digits, beyond 2^63


def test_an_admin_chat_beyond_64_bits_is_a_404(demo: None) -> None:
    client = staff_client(decrypt=True)
    assert client.get(f"/admin/archive/browsablechat/{TOO_BIG}/").status_code == 404
    assert client.get(f"/admin/archive/browsablechat/-100/{TOO_BIG}/").status_code == 404
