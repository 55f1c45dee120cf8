"""The smaller findings of the hardening review, each held here: ids beyond 64 bits name
nothing (404, never a 500), the API's own JSON parser is strict and bounded, the schema states
the constraints the API enforces, and the key cache says when it evicts live keys."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from tests.conftest import Webhook, staff_client

pytestmark = pytest.mark.django_db
TOO_BIG = "9999999999999999999"  # 19 digits, beyond 2^63


def test_an_admin_chat_beyond_64_bits_is_a_404(demo: None) -> None:
    client = staff_client(decrypt=True)
    assert client.get(f"/admin/archive/browsablechat/{TOO_BIG}/").status_code == 404
    assert client.get(f"/admin/archive/browsablechat/-100/{TOO_BIG}/").status_code == 404


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


def _schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema: dict[str, Any] = response.json()
    return schema


def _parameter(schema: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    operation = schema["paths"][path]["get"]
    found: dict[str, Any] = next(p for p in operation["parameters"] if p["name"] == name)
    return found


def test_the_schema_states_the_constraints_the_api_enforces(client: Client) -> None:
    schema = _schema(client)
    message_id = _parameter(schema, "/api/v1/messages/{id}/", "id")["schema"]
    assert message_id["pattern"] == r"^-?\d{1,19}:\d{1,19}$"
    chat_id = _parameter(schema, "/api/v1/chats/{id}/", "id")["schema"]
    assert (chat_id["minimum"], chat_id["maximum"]) == (-(2**63), 2**63 - 1)
    cursor = _parameter(schema, "/api/v1/messages/", "cursor")["schema"]
    assert cursor["maxLength"] == 512
    assert cursor["pattern"] == "^[A-Za-z0-9_:-]+$"
    export_format = _parameter(schema, "/api/v1/messages/export/", "format")["schema"]
    assert export_format["enum"] == ["ndjson", "telegram"]


def test_a_cursor_outside_the_stated_format_is_a_400(api: Any) -> None:
    response = api.get("/api/v1/messages/", {"cursor": "not a cursor!"})
    assert response.status_code == 400
    assert "cursor" in response.json()


def _evictions(client: Client) -> float:
    text = client.get("/metrics").content.decode()
    line = next(
        (x for x in text.splitlines() if x.startswith("groupie_chat_key_cache_evictions_total")),
        "groupie_chat_key_cache_evictions_total 0",
    )
    return float(line.rsplit(" ", 1)[1])


def test_evictions_of_live_chat_keys_are_counted(webhook: Webhook, client: Client) -> None:
    cache = {"TTL_SECONDS": 600, "MAX_KEYS": 1}
    with override_settings(GROUPIE_CHAT_KEY_CACHE=cache):
        before = _evictions(client)
        for name in ("text_message", "private_message", "channel_post"):  # three chats
            assert webhook.post_fixture(name).status_code == 200
        assert _evictions(client) - before >= 2
