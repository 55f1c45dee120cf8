"""A read-only record's page in the admin shows each field once, with no History link and no
Save buttons; the search-index list counts what the index covers."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

from django.core.management import call_command

from messages.models import AuditEntry
from tests.conftest import Webhook, staff_client
from tests.factories import ChatFactory, MessageFactory, UpdateFactory

CHAT = -1001000000000901


def test_an_audit_entry_shows_each_field_once_and_offers_nothing_to_do(db: None) -> None:
    entry = AuditEntry.objects.create(
        channel=AuditEntry.API,
        actor="API key reporting (0a1b2c3d)",
        action="message-list",
        message_ids=["-1001:1", "-1001:2"],
        filters={"kind": "photo"},
    )
    admin = staff_client(decrypt=False, superuser=True)
    page = admin.get(f"/admin/archive/auditentry/{entry.pk}/change/").content.decode()
    labels = re.findall(r'<div class="form-row field-(\w+)', page)
    assert labels, "no fields on the page"
    assert len(labels) == len(set(labels)), labels
    assert {"message_ids", "filters", "actor"} <= set(labels)
    assert "/history/" not in page
    assert 'name="_save"' not in page
    assert "closelink" not in page


def test_the_search_index_list_counts_every_message_the_index_covers(
    webhook: Webhook, settings: Any
) -> None:
    settings.GROUPIE_SEARCH_INDEX_CACHE_SECONDS = 0  # the build need not wait for other servers
    chat = ChatFactory(id=CHAT)
    for n in (1, 2):  # stored before the index is on: the build indexes these
        assert (
            webhook.post(UpdateFactory(message=MessageFactory(chat=chat, message_id=n))).status_code
            == 200
        )
    call_command("build_search_index", "--chat", str(CHAT), stdout=StringIO(), stderr=StringIO())
    for n in (3, 4, 5):  # indexed as they arrive
        assert (
            webhook.post(UpdateFactory(message=MessageFactory(chat=chat, message_id=n))).status_code
            == 200
        )
    admin = staff_client(decrypt=False, superuser=True)
    page = admin.get("/admin/archive/searchindex/").content.decode()
    assert "messages indexed" in page.lower()
    assert re.search(r'<td class="field-indexed">all 5</td>', page), page
