"""The browsable API has a login page, and its refusal links to it; staff who may decrypt
read it once logged in."""

from __future__ import annotations

from django.test import Client

from tests.conftest import staff_client


def test_the_browsable_api_has_a_login_page_and_link(client: Client, db: None) -> None:
    assert client.get("/api-auth/login/").status_code == 200
    page = client.get("/api/v1/messages/", headers={"Accept": "text/html"})
    assert page.status_code in (401, 403)
    assert b"/api-auth/login/" in page.content
    staff = staff_client(decrypt=True)
    assert staff.get("/api/v1/messages/", headers={"Accept": "text/html"}).status_code == 200
