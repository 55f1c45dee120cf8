"""API keys in the admin: created with the key shown once, limited to chats, revoked."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from messages.models import ApiKey

TEAM = -1001234567890123


def admin_client() -> Client:
    user = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(user)
    return client


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_key_created_in_the_admin_is_shown_once_and_works(demo: None) -> None:
    client = admin_client()
    response = client.post("/admin/archive/apikey/add/", {"name": "reports", "chat_ids": str(TEAM)})
    assert response.status_code == 200
    key = re.search(r'id="new-api-key"[^>]*>(gpk_[^<]+)<', response.content.decode())[1]
    record = ApiKey.objects.get(name="reports")
    assert record.chat_ids == [TEAM]
    assert key not in str(list(ApiKey.objects.values_list()))
    assert [c["id"] for c in bearer(key).get("/api/v1/chats/").json()["results"]] == [TEAM]
    change_page = client.get(f"/admin/archive/apikey/{record.pk}/change/").content.decode()
    assert key not in change_page
    assert key.split(".", 1)[1] not in change_page


def test_bad_chat_ids_are_a_form_error(demo: None) -> None:
    response = admin_client().post("/admin/archive/apikey/add/", {"name": "x", "chat_ids": "abc"})
    assert response.status_code == 200
    assert "whole numbers" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoking_in_the_admin_makes_the_key_401(demo: None) -> None:
    client = admin_client()
    response = client.post("/admin/archive/apikey/add/", {"name": "temp", "chat_ids": ""})
    key = re.search(r"(gpk_[A-Za-z0-9_.-]+)", response.content.decode())[1]
    assert bearer(key).get("/api/v1/chats/").status_code == 200
    record = ApiKey.objects.get(name="temp")
    client.post(
        "/admin/archive/apikey/",
        {"action": "revoke", "_selected_action": [record.pk]},
    )
    record.refresh_from_db()
    assert record.revoked_at is not None
    assert bearer(key).get("/api/v1/chats/").status_code == 401
