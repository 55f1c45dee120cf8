"""A record stored before the webhook refused non-finite numbers (a photo whose size parsed to
infinity) is still read everywhere: API list, detail, batch and export, and the admin, as valid
JSON with the number shown as its text, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from messages.services import archive
from messages.telegram import IncomingMessage
from tests.conftest import load_update, staff_client
from webhooks.updates import parse_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_infinity() -> IncomingMessage:
    update = load_update("photo_with_caption")
    update["message"]["photo"][-1]["file_size"] = float("inf")
    update["message"]["nan"] = float("nan")
    incoming = parse_update(update)
    assert isinstance(incoming, IncomingMessage)
    archive(incoming)  # as an older release, which let 1e400 through, would have
    return incoming


def _no_bare_constants(text: str) -> None:
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the output"))


def test_the_api_reads_it_as_valid_json(api: Any, stored_infinity: IncomingMessage) -> None:
    ident = f"{stored_infinity.chat_id}:{stored_infinity.message_id}"
    detail = api.get(f"/api/v1/messages/{ident}/")
    assert detail.status_code == 200
    _no_bare_constants(detail.content.decode())
    assert detail.json()["media"]["file_size"] == "Infinity"
    listed = api.get("/api/v1/messages/")
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["results"]] == [ident]
    batch = api.post("/api/v1/messages/batch/", {"ids": [ident]}, format="json")
    assert batch.status_code == 200
    _no_bare_constants(batch.content.decode())


def test_the_export_writes_valid_json_lines(api: Any, stored_infinity: IncomingMessage) -> None:
    response = api.get("/api/v1/messages/export/")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1
    _no_bare_constants(lines[0])


def test_the_admin_shows_it(stored_infinity: IncomingMessage) -> None:
    client = staff_client(decrypt=True)
    page = client.get(
        f"/admin/archive/browsablechat/{stored_infinity.chat_id}/{stored_infinity.message_id}/"
    )
    assert page.status_code == 200
    assert "Infinity" in page.content.decode()
