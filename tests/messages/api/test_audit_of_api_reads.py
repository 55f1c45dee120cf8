"""Every API response that carries decrypted content is in the audit log, with the key."""

from __future__ import annotations

from typing import Any

from messages.models import AuditEntry

TEAM = -1001234567890123


def test_a_page_of_messages_is_audited_with_its_ids_and_filter(api: Any, demo: None) -> None:
    results = api.get(f"/api/v1/messages/?chat={TEAM}&page_size=3", REMOTE_ADDR="203.0.113.9")
    ids = [r["id"] for r in results.json()["results"]]
    entry = AuditEntry.objects.get()
    assert entry.channel == "api"
    assert entry.api_key == api.key_record
    assert entry.user is None
    assert entry.actor == f"API key test ({api.key_record.prefix})"
    assert entry.action == "message-list"
    assert entry.message_ids == ids
    assert entry.filters["chat"] == [TEAM]
    assert entry.client_address == "203.0.113.9"


def test_detail_batch_export_and_chats_are_audited(api: Any, demo: None) -> None:
    first = api.get("/api/v1/messages/?page_size=2").json()["results"]
    api.get(f"/api/v1/messages/{first[0]['id']}/")
    api.post("/api/v1/messages/batch/", {"ids": [r["id"] for r in first]}, format="json")
    b"".join(api.get("/api/v1/messages/export/?kind=photo").streaming_content)
    api.get("/api/v1/chats/")
    api.get(f"/api/v1/chats/{TEAM}/")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "message-list",
        "message-detail",
        "message-batch",
        "message-export",
        "chat-list",
        "chat-detail",
    ]
    assert AuditEntry.objects.get(action="message-export").filters["kind"] == "photo"


def test_requests_that_show_nothing_decrypted_are_not_audited(api: Any, demo: None) -> None:
    api.get("/api/v1/messages/?chat=42")
    api.get("/api/v1/messages/42:1/")
    api.get("/api/v1/messages/?since=tomorrow")
    assert AuditEntry.objects.count() == 0


def test_the_client_address_comes_from_the_trusted_proxy_hop(
    api: Any, demo: None, settings
) -> None:
    settings.GROUPIE_TRUSTED_PROXIES = 1
    api.get(
        "/api/v1/chats/",
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7, 192.0.2.44",
    )
    assert AuditEntry.objects.get().client_address == "192.0.2.44"
