"""The small stumbles of a newcomer's first hour: the root page, logging in to the browsable
API, a second API key of the same name."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from messages.models import ApiKey
from tests.conftest import staff_client


def test_the_root_leads_to_the_admin(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_the_browsable_api_has_a_login_page_and_link(client: Client, db: None) -> None:
    assert client.get("/api-auth/login/").status_code == 200
    page = client.get("/api/v1/messages/", headers={"Accept": "text/html"})
    assert page.status_code in (401, 403)
    assert b"/api-auth/login/" in page.content
    staff = staff_client(decrypt=True)
    assert staff.get("/api/v1/messages/", headers={"Accept": "text/html"}).status_code == 200


def test_a_second_key_of_the_same_name_is_refused_unless_asked_for(db: None) -> None:
    def create(*args: str) -> str:
        out = StringIO()
        call_command("create_api_key", "--name", "reporting", *args, stdout=out, stderr=StringIO())
        return out.getvalue().strip()

    first = create()
    with pytest.raises(CommandError, match="already named 'reporting'"):
        create()
    second = create("--allow-duplicate-name")
    assert first != second
    assert ApiKey.objects.filter(name="reporting").count() == 2
