"""manage.py compact_envelopes: an archive written when each version was stored twice (head and
revision record) keeps one copy, on either store, audited, resumable, the log still verifying."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from messages.models import AuditEntry
from messages.stores import get_store
from messages.transparency.actions import do_checkpoint, do_verify_log
from tests.conftest import Webhook
from tests.factories import ChatFactory, MessageFactory, UpdateFactory, edited
from tests.messages.stores.test_store_contract import store_twice_behind_the_back

A = -1001000000000321


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


def compact(*options: str) -> str:
    out = StringIO()
    call_command("compact_envelopes", *options, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_compact_envelopes_keeps_one_copy_of_each_version_and_the_log_verifies(
    backends: str, webhook: Webhook
) -> None:
    chat = ChatFactory(id=A, title="crew")
    for n in range(1, 6):
        update = UpdateFactory(message=MessageFactory(chat=chat, message_id=n))
        assert webhook.post(update).status_code == 200
    assert webhook.post(edited(update, edit_date=1_790_000_000, text="fixed")).status_code == 200
    do_checkpoint()
    assert do_verify_log().problems == []
    store = get_store()
    before = [(r.position, r.envelope) for r in store.iter_revisions(A)]
    assert len(before) == 6
    assert store_twice_behind_the_back(get_store(), A) == 5

    said = compact("--dry-run")
    assert "5 duplicates would be deleted" in said
    assert not AuditEntry.objects.filter(action="compact_envelopes").exists()

    said = compact()
    assert "5 duplicates deleted" in said
    assert AuditEntry.objects.filter(action="compact_envelopes").count() == 1
    assert "0 duplicates deleted" in compact("--chat", str(A))  # run again: nothing left
    assert [(r.position, r.envelope) for r in store.iter_revisions(A)] == before
    assert do_verify_log().problems == []
