"""The API's message says where its file stands (``media.status``) and, once stored, where it
is served (``media.url``); a PDF is downloaded as a PDF, never opened in the page."""

from __future__ import annotations

from typing import Any

import pytest

from messages.media import files
from messages.models import MediaFile
from tests.conftest import Webhook, load_update
from webhooks.demo_data import DEMO_MEDIA

PHOTO = (DEMO_MEDIA / "whiteboard.jpg").read_bytes()
CHAT = -1001234567890123
pytestmark = pytest.mark.django_db


def archived(webhook: Webhook, fixture: str) -> tuple[dict[str, Any], MediaFile | None]:
    update = load_update(fixture)
    assert webhook.post(update).status_code == 200
    return update["message"], MediaFile.objects.filter(
        message_id=update["message"]["message_id"]
    ).first()


def test_a_stored_file_has_its_status_and_url_in_every_listing(webhook: Webhook, api: Any) -> None:
    message, row = archived(webhook, "photo_with_caption")
    assert row is not None
    ident = f"{CHAT}:{message['message_id']}"
    pending = api.get(f"/api/v1/messages/{ident}/").json()["media"]
    assert (pending["status"], pending["url"]) == ("pending", None)

    assert files.store(row, [PHOTO])
    url = f"http://testserver/api/v1/messages/{ident}/media/"
    listed = api.get(f"/api/v1/messages/?chat={CHAT}").json()["results"]
    batch = api.post("/api/v1/messages/batch/", {"ids": [ident]}, format="json").json()
    detail = api.get(f"/api/v1/messages/{ident}/").json()
    for body in (next(m for m in listed if m["id"] == ident), batch["results"][0], detail):
        assert (body["media"]["status"], body["media"]["url"]) == ("stored", url)
    served = api.get(url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PHOTO


def test_a_file_not_kept_or_failed_says_so_without_a_url(
    webhook: Webhook, api: Any, settings: Any
) -> None:
    _, row = archived(webhook, "photo_with_caption")
    assert row is not None
    MediaFile.objects.filter(pk=row.pk).update(status=MediaFile.TOO_LARGE)
    settings.GROUPIE_FETCH_MEDIA = False
    message, none = archived(webhook, "document")
    assert none is None
    found = {m["message_id"]: m for m in api.get("/api/v1/messages/").json()["results"]}
    assert (found[row.message_id]["media"]["status"], found[row.message_id]["media"]["url"]) == (
        "too_large",
        None,
    )
    document = found[message["message_id"]]["media"]
    assert (document["status"], document["url"]) == ("not_kept", None)
    assert all(m["media"] is None for m in found.values() if m["kind"] == "text")


def test_a_pdf_is_downloaded_as_a_pdf(webhook: Webhook, api: Any) -> None:
    message, row = archived(webhook, "document")
    assert row is not None
    assert files.store(row, [b"%PDF-1.7\n", b"a report"])
    response = api.get(f"/api/v1/messages/{CHAT}:{message['message_id']}/media/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(response.streaming_content) == b"%PDF-1.7\na report"


def test_an_unknown_file_is_still_an_octet_stream_attachment(webhook: Webhook, api: Any) -> None:
    message, row = archived(webhook, "document")
    assert row is not None
    assert files.store(row, [b"<svg onload=alert(1)>"])
    response = api.get(f"/api/v1/messages/{CHAT}:{message['message_id']}/media/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
