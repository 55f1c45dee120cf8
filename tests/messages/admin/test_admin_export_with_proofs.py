"""The admin's chat export takes ``proofs=1`` as the API's does: a signed checkpoint first,
each message with its inclusion proof, and the file verifies offline with
``python -m crypto.verify_export`` (a copy of crypto/ only); a wrong request is a 400."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from messages.models import AuditEntry
from tests.conftest import Webhook, staff_client
from tests.messages.test_archive_log import _verify_offline, archive

CHAT = -1001000000000077
EXPORT = f"/admin/archive/browsablechat/{CHAT}/export/"


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


def test_an_admin_export_with_proofs_verifies_offline(
    backends: str, webhook: Webhook, tmp_path: Path
) -> None:
    archive(webhook, CHAT, 3)
    response = staff_client(decrypt=True).get(EXPORT, {"format": "ndjson", "proofs": "1"})
    assert response.status_code == 200
    export = tmp_path / "chat.ndjson"
    export.write_bytes(b"".join(response.streaming_content))
    assert export.read_text().splitlines()[0].startswith('{"checkpoint": ')
    key = StringIO()
    call_command("checkpoint", "--public-key", stdout=key)
    result = _verify_offline(export, key.getvalue().strip(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 verified, 0 not verified" in result.stdout
    started = AuditEntry.objects.get(action="chat-export")
    assert started.filters == {"format": "ndjson", "proofs": "1"}


def test_proofs_go_with_ndjson_only_and_take_0_or_1(webhook: Webhook) -> None:
    archive(webhook, CHAT, 1)
    client = staff_client(decrypt=True)
    for query in ({"format": "telegram", "proofs": "1"}, {"format": "ndjson", "proofs": "yes"}):
        response = client.get(EXPORT, query)
        assert response.status_code == 400, query
        assert b"proofs=1 (with format=ndjson)" in response.content
    assert not AuditEntry.objects.filter(action="chat-export").exists()
    plain = client.get(EXPORT, {"format": "ndjson", "proofs": "0"})
    assert b'"proof"' not in b"".join(plain.streaming_content)
