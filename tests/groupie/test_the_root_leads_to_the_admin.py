"""The site's root page is a redirect to the admin, not a 404."""

from __future__ import annotations

from django.test import Client


def test_the_root_leads_to_the_admin(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
