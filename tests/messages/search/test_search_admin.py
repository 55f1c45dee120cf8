"""The admin's side of search: a chat's index turned on and off from its page (by staff allowed
to), built in the background, then used by the chat's search box; a chat without one is still
searched by scanning it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from messages.models import AuditEntry, SearchIndex
from messages.stores import get_store
from tests.conftest import staff_client

TEAM = -1001234567890123
PAGE = f"/admin/archive/browsablechat/{TEAM}/"
SWITCH = f"{PAGE}search-index/"
MANAGE = ("manage_search_index",)

pytestmark = pytest.mark.django_db(transaction=True)  # the task worker runs the build


def test_staff_turn_the_index_on_and_the_search_box_uses_it(demo: None, run_worker) -> None:
    client = staff_client(decrypt=True, perms=MANAGE)
    before = client.get(PAGE, {"q": "staging"}).content.decode()
    assert "Search index: <strong>off</strong>" in before
    assert "Looked at" in before  # the scan

    response = client.post(SWITCH, {"index": "on"}, follow=True)
    assert response.status_code == 200
    assert "being built in the background" in response.content.decode()
    assert SearchIndex.objects.get(chat_id=TEAM).state == SearchIndex.BUILDING
    run_worker()
    assert SearchIndex.objects.get(chat_id=TEAM).state == SearchIndex.READY

    after = client.get(PAGE, {"q": "staging"})
    body = after.content.decode()
    assert "Search index: <strong>on</strong>" in body
    assert "Found with the chat's search index: 4 messages" in body
    texts = [
        entry.row["text"]
        for day in after.context["days"]
        for block in day.blocks
        for entry in block.entries
    ]
    # The four messages that say "staging", in any case (file names are not indexed).
    assert len(texts) == 4
    assert all("staging" in (t or "").casefold() for t in texts)
    entry = AuditEntry.objects.filter(action="search").latest("at")
    assert entry.filters == {"search_length": 7, "indexed": True}
    assert "staging" not in str(entry.filters)

    bad = client.get(PAGE, {"q": "a"}).content.decode()
    assert "nothing to search for" in bad

    response = client.post(SWITCH, {"index": "off"}, follow=True)
    assert "Search index turned off" in response.content.decode()
    assert not SearchIndex.objects.filter(chat_id=TEAM).exists()
    assert get_store().count_search_tokens(TEAM) == {}
    run_worker()  # the second sweep finds nothing more
    assert get_store().count_search_tokens(TEAM) == {}
    assert "Looked at" in client.get(PAGE, {"q": "staging"}).content.decode()
    actions = AuditEntry.objects.filter(action__startswith="search-index").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["search-index-off", "search-index-on"]


def test_only_staff_allowed_to_may_switch_it(demo: None) -> None:
    reader = staff_client(decrypt=True)
    assert "search-index-on" not in reader.get(PAGE).content.decode()  # no button
    assert reader.post(SWITCH, {"index": "on"}).status_code == 403
    manager = staff_client(decrypt=True, perms=MANAGE)
    assert manager.get(SWITCH).status_code == 405  # a change is a POST (with its CSRF token)
    assert manager.post(SWITCH, {"index": "maybe"}).status_code == 404
    assert not SearchIndex.objects.exists()
    call_command("shred_chat", str(TEAM), "--yes", stdout=StringIO())
    assert manager.post(SWITCH, {"index": "on"}).status_code == 410  # gone, and says so
    assert not SearchIndex.objects.exists()
