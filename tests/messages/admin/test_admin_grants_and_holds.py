"""Grants and legal holds in the admin: their own permissions, the same audited actions as
the commands, a refusal on the form; the hold on the chat's page; a reader limited to some
chats cannot mint an API key wider than its grants."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from messages.models import AuditEntry, ChatAccess, LegalHold
from tests.conftest import staff_client

TEAM = -1001234567890123


def _boss() -> Client:
    User.objects.create_superuser("boss", password="pw")
    client = Client()
    client.login(username="boss", password="pw")
    return client


def test_a_superuser_grants_and_revokes_in_the_admin(demo: None) -> None:
    client = _boss()
    ada = User.objects.create_user("ada", password="pw", is_staff=True)
    added = client.post("/admin/archive/chataccess/add/", {"user": ada.pk, "chat_id": TEAM})
    assert added.status_code == 302
    grant = ChatAccess.objects.get()
    assert (grant.user, grant.chat_id, grant.granted_by) == (ada, TEAM, "boss")
    refused = client.post("/admin/archive/chataccess/add/", {"user": ada.pk, "chat_id": -1})
    assert "no chat -1 in the archive" in refused.content.decode()
    client.post(f"/admin/archive/chataccess/{grant.pk}/delete/", {"post": "yes"})
    assert not ChatAccess.objects.exists()
    entries = AuditEntry.objects.filter(action__endswith="_chat_access").order_by("id")
    assert [(e.action, e.actor, e.chat_id) for e in entries] == [
        ("grant_chat_access", "boss", TEAM),
        ("revoke_chat_access", "boss", TEAM),
    ]


def test_a_superuser_holds_and_releases_in_the_admin(demo: None) -> None:
    client = _boss()
    added = client.post("/admin/archive/legalhold/add/", {"chat_id": TEAM, "reason": "Audit 9"})
    assert added.status_code == 302
    page = client.get(f"/admin/archive/browsablechat/{TEAM}/").content.decode()
    assert 'id="legal-hold"' in page
    assert "Audit 9" in page
    client.post(f"/admin/archive/legalhold/{TEAM}/delete/", {"post": "yes"})
    assert not LegalHold.objects.exists()
    page = client.get(f"/admin/archive/browsablechat/{TEAM}/").content.decode()
    assert 'id="legal-hold"' not in page
    actions = AuditEntry.objects.filter(action__endswith="legal_hold").order_by("id")
    assert [(e.action, e.filters["reason"]) for e in actions] == [
        ("set_legal_hold", "Audit 9"),
        ("release_legal_hold", "Audit 9"),
    ]


def test_staff_without_the_permissions_cannot_manage_either(demo: None) -> None:
    client = staff_client(decrypt=True)
    assert client.get("/admin/archive/chataccess/add/").status_code == 403
    assert client.get("/admin/archive/legalhold/add/").status_code == 403
    managers = staff_client(decrypt=False, perms=("manage_chat_access", "manage_legal_hold"))
    assert managers.get("/admin/archive/chataccess/add/").status_code == 200
    assert managers.get("/admin/archive/legalhold/add/").status_code == 200


def test_a_reader_of_some_chats_cannot_make_api_keys(demo: None) -> None:
    client = staff_client(decrypt=True, perms=("add_apikey", "view_apikey"))
    assert client.get("/admin/archive/apikey/add/").status_code == 200  # every chat: it may
    ChatAccess.objects.filter(chat_id__isnull=True).update(chat_id=TEAM)
    assert client.get("/admin/archive/apikey/add/").status_code == 403
