"""The API refuses what it cannot name or parse with a 4xx, never a 500: ids beyond 64 bits
name nothing (404), its own JSON parser is strict and bounded (400), and a cursor outside the
stated format is a 400."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db
TOO_BIG = "9999999999999999999"  # 19 digits, beyond 2^63


def test_an_api_chat_beyond_64_bits_is_a_404(api: Any) -> None:
    assert api.get(f"/api/v1/chats/{TOO_BIG}/").status_code == 404
    assert api.get(f"/api/v1/messages/{TOO_BIG}:1/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        '{"ids": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"ids": ' + "[" * 50 + "]" * 50 + "}",
        '{"ids": ["1:1"], "ids": ["2:2"]}',
        '{"ids": [1e400]}',
        '{"ids": [NaN]}',
    ],
    ids=["100k-deep", "50-deep", "duplicate-key", "infinite", "nan"],
)
def test_the_api_refuses_hostile_json_with_a_400(api: Any, body: str) -> None:
    response = api.post("/api/v1/messages/batch/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_a_cursor_outside_the_stated_format_is_a_400(api: Any) -> None:
    response = api.get("/api/v1/messages/", {"cursor": "not a cursor!"})
    assert response.status_code == 400
    assert "cursor" in response.json()
