"""The admin archive browser: metadata for staff, plaintext only with the permission, audited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from messages.models import AuditEntry
from messages.stores import get_store
from messages.stores.records import MessageQuery
from tests.conftest import staff_client

TEAM = -1001234567890123
SECRETS = ("Marguerite", "Quillfeather", "mquillfeather_zz", "Code freeze")


def edited_message() -> Any:
    items = get_store().query(MessageQuery(chats=(TEAM,), edited=True, limit=1)).items
    return items[0]


def pages(client: Client) -> list[str]:
    message = edited_message()
    urls = [
        "/admin/",
        "/admin/archive/browsablechat/",
        f"/admin/archive/browsablechat/{TEAM}/",
        f"/admin/archive/browsablechat/{TEAM}/{message.message_id}/",
    ]
    bodies = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        bodies.append(response.content.decode())
    return bodies


def test_staff_without_the_permission_see_metadata_but_no_plaintext(demo: None) -> None:
    bodies = pages(staff_client(decrypt=False))
    for body in bodies:
        for secret in SECRETS:
            assert secret not in body
    assert str(TEAM) in bodies[1]
    assert "hidden" in bodies[2]
    assert AuditEntry.objects.count() == 0


def test_staff_without_the_permission_cannot_search(demo: None) -> None:
    client = staff_client(decrypt=False)
    assert client.get(f"/admin/archive/browsablechat/{TEAM}/?q=freeze").status_code == 403


def test_staff_with_the_permission_read_and_every_view_is_audited(demo: None) -> None:
    bodies = pages(staff_client(decrypt=True))
    assert "Quillfeather Release Crew" in bodies[1]
    assert "Marguerite" in bodies[2]
    detail = bodies[3]
    assert "Raw Telegram message" in detail
    assert detail.count('class="version-text"') == 2
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    # The index names the newest chats by title (chat-titles), like the chat list.
    assert actions == ["chat-titles", "chat-list", "message-list", "message-detail"]
    entry = AuditEntry.objects.get(action="message-detail")
    assert entry.channel == "admin"
    assert entry.actor == "staffTrueFalse"
    assert entry.user is not None
    assert entry.chat_id == TEAM
    assert entry.message_ids == [f"{TEAM}:{edited_message().message_id}"]
    assert entry.client_address == "127.0.0.1"


def test_filters_narrow_the_chat_page(demo: None) -> None:
    client = staff_client(decrypt=True)
    body = client.get(f"/admin/archive/browsablechat/{TEAM}/?kind=photo").content.decode()
    assert " · photo" in body
    assert "Never Friday." not in body
    bad = client.get(f"/admin/archive/browsablechat/{TEAM}/?since=yesterday")
    assert bad.status_code == 200
    assert "errorlist" in bad.content.decode()


def test_search_is_bounded_says_how_far_it_looked_and_continues(demo: None, settings) -> None:
    from messages.search import scan as search

    client = staff_client(decrypt=True)
    original = search.SCAN_LIMIT
    search.SCAN_LIMIT = 5
    try:
        first = client.get(f"/admin/archive/browsablechat/{TEAM}/?q=staging")
        body = first.content.decode()
        assert "Looked at 5 messages" in body
        assert "Continue searching further back" in body
        found = body.count("staging") + body.count("Staging")
        link = first.context["searched"]["resume"]
        later = client.get(
            f"/admin/archive/browsablechat/{TEAM}/", {"q": "staging", "cursor": link}
        )
        assert later.status_code == 200
        assert found + later.content.decode().lower().count("staging") >= 3
    finally:
        search.SCAN_LIMIT = original
    assert AuditEntry.objects.filter(action="search").count() == 2


def test_an_unknown_chat_or_message_is_404(demo: None) -> None:
    client = staff_client(decrypt=True)
    assert client.get("/admin/archive/browsablechat/42/").status_code == 404
    assert client.get(f"/admin/archive/browsablechat/{TEAM}/1/").status_code == 404


def test_non_staff_are_sent_to_the_login_page(demo: None) -> None:
    response = Client().get(f"/admin/archive/browsablechat/{TEAM}/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("method", ["add", "change", "delete"])
def test_nobody_can_alter_the_audit_log(demo: None, method: str) -> None:
    client = staff_client(decrypt=True, superuser=True)
    client.get("/admin/archive/browsablechat/")
    entry = AuditEntry.objects.get()
    url = {
        "add": "/admin/archive/auditentry/add/",
        "change": f"/admin/archive/auditentry/{entry.pk}/change/",
        "delete": f"/admin/archive/auditentry/{entry.pk}/delete/",
    }[method]
    response = client.post(url, {"actor": "someone else", "post": "yes"})
    assert response.status_code in (403, 302)
    assert AuditEntry.objects.filter(pk=entry.pk, actor=entry.actor).exists()
    listing = client.get("/admin/archive/auditentry/")
    assert listing.status_code == 200
    assert entry.actor in listing.content.decode()


def test_a_chat_page_that_shows_only_the_title_is_audited_too(demo: None) -> None:
    client = staff_client(decrypt=True)
    for query in ("?kind=dice", "?since=not-a-date"):
        body = client.get(f"/admin/archive/browsablechat/{TEAM}/{query}").content.decode()
        assert "Quillfeather Release Crew" in body
    assert AuditEntry.objects.filter(chat_id=TEAM).count() == 2


def test_the_audit_log_keeps_no_search_text(demo: None) -> None:
    client = staff_client(decrypt=True)
    client.get(f"/admin/archive/browsablechat/{TEAM}/?q=staging")
    entry = AuditEntry.objects.get(action="search")
    assert "staging" not in str(entry.filters)
    assert entry.filters["search_length"] == len("staging")


def test_the_date_filters_use_the_browsers_picker_and_the_sender_takes_a_name_or_id(
    demo: None,
) -> None:
    client = staff_client(decrypt=True)
    page = client.get(f"/admin/archive/browsablechat/{TEAM}/").content.decode()
    for name in ("since", "until"):
        assert re.search(rf'<input type="datetime-local" name="{name}"', page), name
    # Issue 29: a sender by name (autocomplete over the chat's senders) or by user id.
    assert 'placeholder="name or user id"' in page
    assert 'list="sender-names"' in page
    # What the picker sends (2026-11-02T09:00) filters like a typed date does.
    future = client.get(f"/admin/archive/browsablechat/{TEAM}/?since=2999-01-01T00:00")
    assert "errorlist" not in future.content.decode()
    assert "Never Friday." not in future.content.decode()
    past = client.get(f"/admin/archive/browsablechat/{TEAM}/?since=2000-01-01T00:00")
    assert "Never Friday." in past.content.decode()
    assert 'value="2000-01-01T00:00"' in past.content.decode()
