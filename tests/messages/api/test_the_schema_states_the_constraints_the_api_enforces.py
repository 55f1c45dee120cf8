"""The OpenAPI schema states the constraints the API enforces on ids, cursors and formats."""

from __future__ import annotations

from typing import Any

from django.test import Client


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
