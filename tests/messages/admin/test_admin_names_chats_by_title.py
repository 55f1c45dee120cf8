"""The audit log, the search-index list and the retention pages name chats by title for staff
who may read them, and by id for the others (who cause no title to be opened)."""

from __future__ import annotations

import re

from django.utils import timezone

from messages.models import AuditEntry, ChatRetention, SearchIndex
from tests.conftest import staff_client

TEAM = -1001234567890123
TITLE = "Quillfeather Release Crew"


def _entry() -> AuditEntry:
    return AuditEntry.objects.create(
        channel=AuditEntry.API, actor="API key ci (gk_1234)", action="search", chat_id=TEAM
    )


def test_the_audit_log_names_chats_and_actors_for_readers(demo: None) -> None:
    entry = _entry()
    client = staff_client(decrypt=True, perms=("view_auditentry",))
    listing = client.get("/admin/archive/auditentry/").content.decode()
    assert TITLE in listing
    assert "API key ci (gk_1234)" in listing
    detail = client.get(f"/admin/archive/auditentry/{entry.pk}/change/").content.decode()
    assert TITLE in detail
    shown = AuditEntry.objects.filter(action="chat-titles").values_list("filters", flat=True)
    assert {"page": "audit-log", "chats": [TEAM]} in list(shown)


def test_an_actor_is_named_by_the_users_username(demo: None) -> None:
    client = staff_client(decrypt=True, perms=("view_auditentry",))
    client.get(f"/admin/archive/browsablechat/{TEAM}/")  # writes an entry as this user
    AuditEntry.objects.filter(action="message-list").update(actor="renamed since")
    listing = client.get("/admin/archive/auditentry/").content.decode()
    assert "staffTrue" in listing
    assert "renamed since" not in listing


def test_the_audit_log_shows_ids_to_staff_who_may_not_read(demo: None) -> None:
    entry = _entry()
    client = staff_client(decrypt=False, perms=("view_auditentry",))
    listing = client.get("/admin/archive/auditentry/").content.decode()
    detail = client.get(f"/admin/archive/auditentry/{entry.pk}/change/").content.decode()
    for body in (listing, detail):
        assert TITLE not in body
        assert f"Chat {TEAM}" in body
    assert not AuditEntry.objects.filter(action="chat-titles").exists()


def test_the_search_index_list_shows_titles_to_readers_only(demo: None) -> None:
    SearchIndex.objects.create(chat_id=TEAM, enabled_at=timezone.now())
    perms = ("view_searchindex",)
    reader = staff_client(decrypt=True, perms=perms).get("/admin/archive/searchindex/")
    other = staff_client(decrypt=False, perms=perms).get("/admin/archive/searchindex/")
    assert TITLE in reader.content.decode()
    assert TITLE not in other.content.decode()
    assert f"Chat {TEAM}" in other.content.decode()


def _options(body: str) -> dict[str, str]:
    select = re.search(r'<select name="chat_id".*?</select>', body, re.S)
    assert select is not None, "the form picks the chat from a select"
    return dict(re.findall(r'<option value="(-?\d+)"[^>]*>([^<]*)</option>', select.group(0)))


def test_the_retention_form_picks_an_archived_chat_by_title(demo: None) -> None:
    client = staff_client(decrypt=True, perms=("manage_retention",))
    options = _options(client.get("/admin/archive/chatretention/add/").content.decode())
    assert options[str(TEAM)] == f"{TITLE} ({TEAM})"
    response = client.post("/admin/archive/chatretention/add/", {"chat_id": TEAM, "days": 400})
    assert response.status_code == 302
    assert ChatRetention.objects.get(chat_id=TEAM).days == 400
    listing = client.get("/admin/archive/chatretention/").content.decode()
    assert TITLE in listing
    change = client.get(f"/admin/archive/chatretention/{TEAM}/change/").content.decode()
    assert TITLE in change
    assert 'name="chat_id"' not in change  # another chat is another period


def test_the_retention_form_offers_ids_to_staff_who_may_not_read(demo: None) -> None:
    client = staff_client(decrypt=False, perms=("manage_retention",))
    options = _options(client.get("/admin/archive/chatretention/add/").content.decode())
    assert options[str(TEAM)] == f"Chat {TEAM}"
    assert all("Chat " in label for label in options.values())


def test_the_retention_form_refuses_a_chat_not_archived(demo: None) -> None:
    client = staff_client(decrypt=True, perms=("manage_retention",))
    response = client.post("/admin/archive/chatretention/add/", {"chat_id": 42, "days": 400})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ChatRetention.objects.exists()


def test_the_header_links_to_the_time_zone_page(demo: None) -> None:
    body = staff_client(decrypt=False).get("/admin/").content.decode()
    assert 'href="/admin/archive/browsablechat/time-zone/"' in body
