"""Every page carries the Content-Security-Policy; scripts only from the site (or a nonce),
never inline; the browser tests (tests/browser/test_content_security_policy.py) show the
admin, the browsable API and Swagger UI working under it."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import staff_client


@pytest.mark.parametrize("path", ["/admin/", "/api/v1/chats/", "/api/docs/", "/api/schema/"])
def test_pages_carry_the_policy(db: None, path: str) -> None:
    response = staff_client(decrypt=True, superuser=True).get(path)
    assert response.status_code == 200
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].split()[0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


def test_swagger_ui_starts_from_a_script_file_not_an_inline_one(client: Client, db: None) -> None:
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page
    script = client.get("/api/docs/?script")
    assert script.status_code == 200
    assert b"SwaggerUIBundle" in script.content
