"""A staff reader granted one chat, crawling the whole admin, never meets another chat's title,
sender or text; the other chats' pages, files, exports and statistics are 404, exactly as a
chat that does not exist; the API under the same session is scoped the same way."""

from __future__ import annotations

import html
import json
import re
from collections import deque
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from messages.models import AuditEntry, ChatAccess, MediaFile
from messages.reading import opening
from messages.stores import get_store
from messages.stores.records import MessageQuery

TEAM = -1001234567890123
NO_SUCH_CHAT = -1009999999999999
MAX_PAGES = 400
LINK = re.compile(r'(?:href|src)="(/admin/[^"#]*)"')


def _texts(chat_id: int) -> tuple[set[str], str]:
    """The decrypted markers of a chat (its title, texts and senders' names), and all of its
    plaintext as one string."""
    store = get_store()
    chat = store.get_chat(chat_id)
    assert chat is not None
    texts = {opening.open_title(chat)[0] or ""}
    names = set()
    everything = []
    page = store.query(MessageQuery(chats=(chat_id,), limit=500))
    for opened in opening.open_messages(page.items):
        message = opened.opened.message or {}
        everything.append(json.dumps(message, ensure_ascii=False))
        for field in ("text", "caption"):
            if len(message.get(field) or "") >= 12:
                texts.add(message[field][:40])
        sender = message.get("from") or {}
        if sender.get("last_name"):
            names.add(f"{sender['first_name']} {sender['last_name']}")
    markers = {t for t in texts if t} | names
    return markers, "\n".join([*markers, *everything])


def _reader(*chats: int | None) -> Client:
    user = User.objects.create_user("limited", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="archive", codename__startswith="view_")
    )
    for chat_id in chats:
        ChatAccess.objects.create(user=user, chat_id=chat_id)
    client = Client()
    client.force_login(user)
    return client


def _crawl(client: Client) -> dict[str, str]:
    seen: dict[str, str] = {}
    todo = deque(["/admin/"])
    while todo and len(seen) < MAX_PAGES:
        url = html.unescape(todo.popleft())
        if url in seen or "/logout" in url:
            continue
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen[url] = body.decode("utf-8", "replace")
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            todo.extend(u for u in LINK.findall(seen[url]) if html.unescape(u) not in seen)
    return seen


@pytest.fixture
def other_chats_read_by_a_superuser(demo: None) -> list[int]:
    """The demo, and every other chat browsed by a superuser: the audit log names them."""
    boss = User.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(boss)
    others = [c.chat_id for c in get_store().list_chats() if c.chat_id != TEAM]
    assert len(others) >= 2
    for chat_id in others:
        assert client.get(f"/admin/archive/browsablechat/{chat_id}/").status_code == 200
    assert AuditEntry.objects.filter(chat_id__in=others).exists()
    return others


def test_crawling_the_admin_never_shows_another_chats_plaintext(
    other_chats_read_by_a_superuser: list[int],
) -> None:
    others = other_chats_read_by_a_superuser
    _, own = _texts(TEAM)
    markers: set[str] = set()
    for chat_id in others:
        # What the chat it reads says too (a name in both chats) is no marker.
        markers |= {m for m in _texts(chat_id)[0] if m not in own}
    assert len(markers) > 10
    pages = _crawl(_reader(TEAM))
    assert len(pages) > 20, sorted(pages)
    assert f"/admin/archive/browsablechat/{TEAM}/" in pages  # it does read its own chat
    assert "Quillfeather Release Crew" in pages[f"/admin/archive/browsablechat/{TEAM}/"]
    for url, body in pages.items():
        for marker in markers:
            assert marker not in body, (url, marker)
            assert html.escape(marker) not in body, (url, marker)
        for chat_id in others:
            # A private chat's id is its user's, who may write in the chat it reads too.
            assert str(chat_id) not in body or str(chat_id) in own, (url, chat_id)


def test_another_chats_pages_files_exports_and_stats_are_404(
    other_chats_read_by_a_superuser: list[int],
) -> None:
    client = _reader(TEAM)
    base = "/admin/archive/browsablechat"
    for chat_id in [*other_chats_read_by_a_superuser, NO_SUCH_CHAT]:
        message = get_store().query(MessageQuery(chats=(chat_id,), limit=1)).items
        message_id = message[0].message_id if message else 1
        for path in (
            "",
            "stats/",
            "export/?format=ndjson",
            "export/?format=html",
            "senders/?q=a",
            f"{message_id}/",
            f"{message_id}/media/1/",
            f"{message_id}/media/1/thumbnail/",
        ):
            assert client.get(f"{base}/{chat_id}/{path}").status_code == 404, (chat_id, path)
    for row in MediaFile.objects.exclude(chat_id=TEAM):
        url = f"{base}/{row.chat_id}/{row.message_id}/media/{row.pk}/"
        assert client.get(url).status_code == 404
        assert client.get(f"{url}thumbnail/").status_code == 404
    # The admin's search box finds nothing of theirs either.
    other = other_chats_read_by_a_superuser[0]
    found = client.get(f"/admin/archive/auditentry/?q={other}").content.decode()
    assert str(other) not in found.replace(f"q={other}", "").replace(f'value="{other}"', "")


def test_the_api_under_the_same_session_is_scoped_to_the_grants(
    other_chats_read_by_a_superuser: list[int],
) -> None:
    client = _reader(TEAM)
    listed = client.get("/api/v1/chats/").json()["results"]
    assert [c["id"] for c in listed] == [TEAM]
    messages = client.get("/api/v1/messages/?page_size=500").json()["results"]
    assert messages
    assert {m["chat_id"] for m in messages} == {TEAM}
    for chat_id in other_chats_read_by_a_superuser:
        assert client.get(f"/api/v1/chats/{chat_id}/").status_code == 404
        assert client.get(f"/api/v1/messages/?chat={chat_id}").json()["results"] == []
        assert client.get(f"/api/v1/chats/{chat_id}/events/").status_code == 404


def test_group_grants_all_chat_grants_and_revocation_take_effect_at_once(demo: None) -> None:
    from django.contrib.auth.models import Group

    from messages.grants import do_grant_chat_access, do_revoke_chat_access

    other = next(c.chat_id for c in get_store().list_chats() if c.chat_id != TEAM)
    client = _reader()  # no grant of its own
    user = User.objects.get(username="limited")
    page = f"/admin/archive/browsablechat/{TEAM}/"
    assert client.get(page).status_code == 404
    group = Group.objects.create(name="investigators")
    user.groups.add(group)
    do_grant_chat_access(group=group, chat_ids=[TEAM])
    assert client.get(page).status_code == 200
    assert client.get(f"/admin/archive/browsablechat/{other}/").status_code == 404
    do_grant_chat_access(user=user, all_chats=True)
    assert client.get(f"/admin/archive/browsablechat/{other}/").status_code == 200
    do_revoke_chat_access(user=user, all_chats=True)
    assert client.get(f"/admin/archive/browsablechat/{other}/").status_code == 404
    do_revoke_chat_access(group=group, chat_ids=[TEAM])
    assert client.get(page).status_code == 404
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions.count("grant_chat_access") == 2
    assert actions.count("revoke_chat_access") == 2


def test_superusers_read_every_chat_without_a_grant(demo: None) -> None:
    boss = User.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(boss)
    for chat in get_store().list_chats():
        assert client.get(f"/admin/archive/browsablechat/{chat.chat_id}/").status_code == 200


def test_the_audit_log_leaves_out_entries_naming_other_chats_messages(
    other_chats_read_by_a_superuser: list[int], make_api_client: Any
) -> None:
    # An API listing across every chat: one entry of no chat naming messages of each.
    make_api_client().get("/api/v1/messages/?page_size=500")
    across = AuditEntry.objects.get(action="message-list", channel=AuditEntry.API)
    assert across.chat_id is None
    client = _reader(TEAM)
    assert client.get(f"/admin/archive/auditentry/{across.pk}/change/").status_code == 302
    listing = client.get("/admin/archive/auditentry/").content.decode()
    assert f"/admin/archive/auditentry/{across.pk}/change/" not in listing
    boss = User.objects.get(username="boss")
    everything = Client()
    everything.force_login(boss)
    listing = everything.get("/admin/archive/auditentry/").content.decode()
    assert f"/admin/archive/auditentry/{across.pk}/change/" in listing
