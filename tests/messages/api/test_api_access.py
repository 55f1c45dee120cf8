"""Who may read what: API keys (hashed, revocable, limited to chats) and staff sessions."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from messages.apikeys import revoke_api_key
from messages.models import ApiKey

TEAM = -1001234567890123  # the demo's team supergroup
CHANNEL = -1002718281828459


def test_anonymous_requests_are_401_with_a_bearer_challenge(demo: None) -> None:
    response = APIClient().get("/api/v1/messages/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Bearer gpk_00000000.wrong", "Bearer", "Bearer a b", "Token x"]
)
def test_a_wrong_key_is_401(demo: None, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/messages/").status_code == 401


def test_a_revoked_key_is_401(api: Any, demo: None) -> None:
    assert api.get("/api/v1/chats/").status_code == 200
    revoke_api_key(api.key_record)
    assert api.get("/api/v1/chats/").status_code == 401


def test_keys_are_stored_only_as_hashes(demo: None) -> None:
    out = StringIO()
    call_command(
        "create_api_key", "--name", "reporting", "--chat", str(TEAM), stdout=out, stderr=StringIO()
    )
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("gpk_")
    record = ApiKey.objects.get(name="reporting")
    assert record.chat_ids == [TEAM]
    stored = " ".join(str(v) for v in ApiKey.objects.values_list().get())
    assert key not in stored
    assert key.split(".", 1)[1] not in stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(f"/api/v1/chats/{TEAM}/").status_code == 200


def test_a_limited_key_sees_only_its_chats_in_lists(make_api_client: Any, demo: None) -> None:
    api = make_api_client(TEAM)
    chats = api.get("/api/v1/chats/").json()["results"]
    assert [c["id"] for c in chats] == [TEAM]
    results = api.get("/api/v1/messages/?page_size=500").json()["results"]
    assert results
    assert {r["chat_id"] for r in results} == {TEAM}
    other = api.get(f"/api/v1/messages/?chat={CHANNEL}").json()
    assert other["results"] == []
    export = b"".join(api.get("/api/v1/messages/export/").streaming_content)
    assert export
    assert str(CHANNEL).encode() not in export


def test_a_limited_key_gets_404_outside_its_chats(make_api_client: Any, demo: None) -> None:
    api = make_api_client(TEAM)
    assert api.get(f"/api/v1/chats/{CHANNEL}/").status_code == 404
    team_message = api.get("/api/v1/messages/?page_size=1").json()["results"][0]["id"]
    assert api.get(f"/api/v1/messages/{team_message}/").status_code == 200
    outsider = make_api_client(CHANNEL)
    assert outsider.get(f"/api/v1/messages/{team_message}/").status_code == 404
    batch = outsider.post("/api/v1/messages/batch/", {"ids": [team_message]}, format="json")
    assert batch.json() == {"results": [], "not_found": [team_message]}


def staff(*permissions: str, superuser: bool = False) -> APIClient:
    user = User.objects.create_user("staff", password="x", is_staff=True, is_superuser=superuser)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = APIClient()
    client.force_login(user)
    return client


def test_staff_without_the_decrypt_permission_are_403(demo: None) -> None:
    assert staff().get("/api/v1/messages/").status_code == 403


def test_staff_with_the_decrypt_permission_read_in_the_browsable_api(demo: None) -> None:
    client = staff("view_decrypted")
    assert client.get("/api/v1/messages/").status_code == 200
    page = client.get("/api/v1/messages/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"Django REST framework" in page.content


def test_superusers_may_read(demo: None) -> None:
    assert staff(superuser=True).get("/api/v1/chats/").status_code == 200


def test_each_key_is_throttled_on_its_own(make_api_client: Any, demo: None, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"archive": "3/min"},
    }
    cache.clear()
    first, second = make_api_client(), make_api_client()
    codes = [first.get("/api/v1/chats/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert second.get("/api/v1/chats/").status_code == 200


def test_a_limited_key_does_not_learn_migration_links_outside_its_scope(
    make_api_client: Any, webhook: Any
) -> None:
    from tests.conftest import load_update

    webhook.post_fixture("migrate_to_chat_id")
    webhook.post_fixture("migrate_from_chat_id")
    old = load_update("migrate_to_chat_id")["message"]
    body = make_api_client(old["chat"]["id"]).get(f"/api/v1/chats/{old['chat']['id']}/").json()
    assert body["migrated_to_chat_id"] is None
    both = make_api_client(old["chat"]["id"], old["migrate_to_chat_id"])
    linked = both.get(f"/api/v1/chats/{old['chat']['id']}/").json()
    assert linked["migrated_to_chat_id"] == old["migrate_to_chat_id"]
