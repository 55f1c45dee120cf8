"""An API key reads decrypted messages, so only staff who may read them can make, change or
revoke one; a key's chats are fixed when it is made; making and revoking keys is audited."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from messages.models import ApiKey, AuditEntry
from tests.conftest import staff_client

pytestmark = pytest.mark.django_db
ALL_KEY_PERMS = ("add_apikey", "change_apikey", "delete_apikey", "view_apikey")


def test_staff_without_the_decrypt_permission_cannot_make_a_key() -> None:
    client = staff_client(decrypt=False, perms=ALL_KEY_PERMS)
    response = client.post("/admin/archive/apikey/add/", {"name": "mine", "chat_ids": ""})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
    assert "gpk_" not in response.content.decode()


def test_staff_without_the_decrypt_permission_cannot_change_or_revoke_a_key() -> None:
    record = ApiKey.objects.create(name="ops", prefix="abcd1234", key_hash="0" * 64, chat_ids=[1])
    client = staff_client(decrypt=False, perms=ALL_KEY_PERMS)
    client.post(f"/admin/archive/apikey/{record.pk}/change/", {"name": "ops", "chat_ids": ""})
    client.post("/admin/archive/apikey/", {"action": "revoke", "_selected_action": [record.pk]})
    client.post(f"/admin/archive/apikey/{record.pk}/delete/", {"post": "yes"})
    record.refresh_from_db()
    assert (record.chat_ids, record.revoked_at) == ([1], None)
    add_page = client.get("/admin/archive/apikey/").content.decode()
    assert "/admin/archive/apikey/add/" not in add_page


def test_a_keys_chats_cannot_be_widened_after_it_is_made() -> None:
    record = ApiKey.objects.create(name="ops", prefix="abcd1234", key_hash="0" * 64, chat_ids=[1])
    client = staff_client(decrypt=True, perms=ALL_KEY_PERMS)
    response = client.post(
        f"/admin/archive/apikey/{record.pk}/change/", {"name": "renamed", "chat_ids": ""}
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.name, record.chat_ids) == ("renamed", [1])


def test_making_and_revoking_a_key_are_audited_without_the_key() -> None:
    client = staff_client(decrypt=True, perms=ALL_KEY_PERMS)
    response = client.post("/admin/archive/apikey/add/", {"name": "reports", "chat_ids": "-5"})
    key = re.search(r"(gpk_[A-Za-z0-9_.-]+)", response.content.decode())[1]
    record = ApiKey.objects.get(name="reports")
    client.post("/admin/archive/apikey/", {"action": "revoke", "_selected_action": [record.pk]})
    entries = list(AuditEntry.objects.order_by("id").values("action", "actor", "filters"))
    described = {"key": f"reports ({record.prefix})", "chats": [-5]}
    assert entries == [
        {"action": "api-key-create", "actor": "staffTrueFalse4", "filters": described},
        {"action": "api-key-revoke", "actor": "staffTrueFalse4", "filters": described},
    ]
    assert key not in str(list(AuditEntry.objects.values_list()))


def test_a_key_made_by_the_command_is_audited() -> None:
    call_command(
        "create_api_key", "--name", "cron", "--chat", "7", stdout=StringIO(), stderr=StringIO()
    )
    entry = AuditEntry.objects.get()
    assert (entry.channel, entry.action) == (AuditEntry.COMMAND, "api-key-create")
    assert entry.filters["chats"] == [7]
