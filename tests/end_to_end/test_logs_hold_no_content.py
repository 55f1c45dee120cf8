"""The canary: every path that logs (archiving, bad input, outages, records that fail to open,
the key lifecycle) is driven with a marker string in every field a person writes, and in the
secrets; no captured log line holds any of them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from groupie.logging import CloudLoggingFormatter
from messages.models import Message
from tests.conftest import Webhook, load_update, staff_client
from tests.end_to_end.test_faults_answer_503 import keyring_missing, read_only_database
from tests.groupie.test_structured_logs import Captured, capture

pytestmark = pytest.mark.django_db(transaction=True)
MARKERS = {
    "text": "CANARY-TEXT-7f3a",
    "caption": "CANARY-CAPTION-5d1e",
    "first_name": "CANARY-FIRSTNAME-a0c2",
    "last_name": "CANARY-LASTNAME-b9e4",
    "username": "canary_username_c4d8",
    "title": "CANARY-TITLE-e6b1",
}
CHAT = -1001999888777666


def marked(message_id: int, *, edit_date: int | None = None) -> dict[str, Any]:
    """A real-shaped update whose every content field holds a marker."""
    update = copy.deepcopy(load_update("text_message"))
    update["update_id"] = 9_000 + message_id
    message = update["message"]
    message.update(message_id=message_id, text=MARKERS["text"])
    message["chat"] = {"id": CHAT, "type": "supergroup", "title": MARKERS["title"]}
    message["from"].update(
        first_name=MARKERS["first_name"],
        last_name=MARKERS["last_name"],
        username=MARKERS["username"],
    )
    if edit_date is not None:
        message["edit_date"] = edit_date
        update["edited_message"] = update.pop("message")
    return update


@pytest.fixture
def logs() -> Iterator[Captured]:
    yield from capture(CloudLoggingFormatter(project="groupie-prod"))


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_no_log_line_holds_content_or_secrets(
    client: Client, webhook: Webhook, api: Any, logs: Captured, keyring_path: Path
) -> None:
    # Archived, edited, replayed.
    for message_id in (1, 2, 3):
        assert webhook.post(marked(message_id)).status_code == 200
    assert webhook.post(marked(1, edit_date=1_790_000_000)).json()["outcome"] == "revised"
    assert webhook.post(marked(2)).json()["outcome"] == "duplicate"
    # Bad input: broken JSON around a marker, a field of the wrong type holding one.
    assert webhook.post(f'{{"update_id": 5, "message": "{MARKERS["text"]}').status_code == 400
    wrong_type = marked(4)
    wrong_type["message"]["message_id"] = MARKERS["text"]
    assert webhook.post(wrong_type).status_code == 400
    # A wrong secret, and the legacy route with the right one in its path.
    assert webhook.post(marked(5), secret=MARKERS["caption"]).status_code == 403
    legacy = f"/webhook/{settings.WEBHOOK_SECRET}"
    assert webhook.post(marked(6), path=legacy).status_code == 200
    assert webhook.post(marked(6), path=f"/webhook/{MARKERS['caption']}").status_code == 403
    # Outages: the keyring gone, the database refusing writes.
    with keyring_missing(keyring_path):
        assert webhook.post(marked(7)).status_code == 503
    with read_only_database(keyring_path):
        assert webhook.post(marked(8)).status_code == 503
    # A record that no longer opens, read through the API and the admin.
    row = Message.objects.get(chat_id=CHAT, message_id=3)
    broken = bytearray(row.envelope)
    broken[-1] ^= 1
    Message.objects.filter(pk=row.pk).update(envelope=bytes(broken))
    assert api.get(f"/api/v1/messages/?chat={CHAT}").status_code == 200
    assert api.get(f"/api/v1/messages/{CHAT}:3/").status_code == 200
    wrong_key = {"Authorization": "Bearer " + MARKERS["text"]}
    assert client.get("/api/v1/messages/", headers=wrong_key).status_code == 401
    admin = staff_client(decrypt=True)
    assert admin.get(f"/admin/archive/browsablechat/{CHAT}/").status_code == 200
    assert admin.get(f"/admin/archive/browsablechat/{CHAT}/3/").status_code == 200
    # The key lifecycle, with the broken record among the ones it must re-seal.
    run("rotate_chat_keys", "--chat", str(CHAT))
    # The broken record's envelope is its only copy (one envelope at rest per version): it
    # cannot be re-sealed, is reported, and keeps its key version superseded.
    with pytest.raises(CommandError, match=r"reencrypt_messages finished with \d+ failures?$"):
        run("reencrypt_messages", "--chat", str(CHAT))
    # The broken record, found as its version and as its message's head, named once.
    with pytest.raises(CommandError, match=r"verify_archive finished with 1 failure$"):
        run("verify_archive")
    run("shred_chat", str(CHAT), "--yes")

    lines = logs.lines()
    assert len(lines) > 20  # the paths above did log: access lines, warnings, errors
    text = "\n".join(lines)
    for field, marker in MARKERS.items():
        assert marker not in text, f"the {field} marker reached a log line"
    assert settings.WEBHOOK_SECRET not in text
    assert api.key not in text
    # What they do say: the outages by type, the failed records by id.
    assert '"outcome": "unavailable"' in text
    assert "DecryptionError" in text
    severities = {json.loads(line)["severity"] for line in lines}
    assert {"INFO", "WARNING", "ERROR"} <= severities
