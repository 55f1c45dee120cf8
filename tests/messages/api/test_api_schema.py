"""The OpenAPI schema describes the API truthfully: a bounded schemathesis run over it finds
no server error and no response that violates the schema."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from groupie.wsgi import application
from messages.apikeys import create_api_key

OPERATIONS = [
    ("/api/v1/chats/", "GET"),
    ("/api/v1/chats/{id}/", "GET"),
    ("/api/v1/messages/", "GET"),
    ("/api/v1/messages/{id}/", "GET"),
    ("/api/v1/messages/batch/", "POST"),
    ("/api/v1/messages/export/", "GET"),
]


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """schemathesis calls the WSGI app directly, which closes the database connection after
    each request; inside the test's transaction (PostgreSQL) that would end it. Django's own
    test client disconnects the same signals."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def bearer(demo: None, keep_test_connection: None) -> dict[str, str]:
    # Every demo chat indexed: a generated search= runs the whole search, not just a 400.
    call_command("build_search_index", "--all", stdout=StringIO(), stderr=StringIO())
    _, key = create_api_key("schemathesis")
    return {"Authorization": f"Bearer {key}"}


# schemathesis' pytest plugin does not yet run under pytest 9, so each operation's strategy is
# driven by hypothesis directly: the same generation and the same checks.
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_to_its_schema(path: str, method: str, bearer: dict[str, str]) -> None:
    operation = schemathesis.openapi.from_wsgi("/api/schema/", application)[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        # Schema-valid input may still be refused with a documented 400: an opaque cursor the
        # server did not sign, or since after until. Every other check stays on.
        case.call_and_validate(headers=bearer, excluded_checks=[positive_data_acceptance])

    check()


def test_the_schema_is_public_and_valid(client: Client, db: None) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/v1/chats/",
        "/api/v1/chats/{id}/",
        "/api/v1/messages/",
        "/api/v1/messages/{id}/",
        "/api/v1/messages/batch/",
        "/api/v1/messages/export/",
    } <= set(paths)
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_swagger_ui_is_served_from_local_static_files(client: Client) -> None:
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
