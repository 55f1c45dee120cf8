"""The metrics an operator alerts on: per route, per update outcome (every 4xx too), keyring
results, cache lookups, store errors, API keys by name, audit entries, command runs, the
process; and who may read /metrics."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from tests.conftest import Webhook, load_update, staff_client
from tests.end_to_end.test_faults_answer_503 import read_only_database


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """A sample's change across a block."""

    def __init__(self, name: str, **labels: str) -> None:
        self.name, self.labels = name, labels
        self.before = value(name, **labels)

    @property
    def change(self) -> float:
        return value(self.name, **self.labels) - self.before


def test_requests_are_counted_and_timed_by_route_method_and_status_class(
    client: Client, webhook: Webhook
) -> None:
    ok = Delta(
        "groupie_http_requests_total", route="telegram-webhook", method="POST", status_class="2xx"
    )
    refused = Delta(
        "groupie_http_requests_total", route="telegram-webhook", method="POST", status_class="4xx"
    )
    timed = Delta(
        "groupie_http_request_duration_seconds_count", route="telegram-webhook", method="POST"
    )
    fast = Delta(
        "groupie_http_request_duration_seconds_bucket",
        route="telegram-webhook",
        method="POST",
        le="5.0",
    )
    unmatched = Delta(
        "groupie_http_requests_total", route="unmatched", method="GET", status_class="4xx"
    )
    webhook.post_fixture("text_message")
    webhook.post_fixture("text_message", secret="wrong")
    client.get("/no/such/page")
    assert (ok.change, refused.change, timed.change, fast.change) == (1, 1, 2, 2)
    assert unmatched.change == 1


def test_every_refused_update_is_counted_413_included(webhook: Webhook, settings: Any) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 200
    too_large = Delta("groupie_updates_total", kind="unknown", outcome="too_large")
    invalid = Delta("groupie_updates_total", kind="unknown", outcome="invalid")
    forbidden = Delta("groupie_updates_total", kind="unknown", outcome="forbidden")
    assert webhook.post({"update_id": 1, "message": {"text": "x" * 500}}).status_code == 413
    assert webhook.post("{not json").status_code == 400
    assert webhook.post_fixture("text_message", secret="nope").status_code == 403
    assert (too_large.change, invalid.change, forbidden.change) == (1, 1, 1)


def test_keyring_results_cache_lookups_and_the_last_archive(webhook: Webhook) -> None:
    from messages import sealing

    wraps = Delta("groupie_keyring_calls_total", operation="wrap", result="ok")
    misses = Delta("groupie_chat_key_cache_lookups_total", result="miss")
    hits = Delta("groupie_chat_key_cache_lookups_total", result="hit")
    webhook.post_fixture("text_message")  # a new chat: one key wrapped
    sealing.chat_keys().active_versions.clear()  # the next message looks its key up again
    update = load_update("text_message")
    update["message"]["message_id"] += 1
    webhook.post(update)
    assert wraps.change == 1
    assert hits.change >= 1
    assert misses.change == 0  # the key made for the first message stayed cached
    assert value("groupie_last_archived_timestamp_seconds") > 1_700_000_000


@pytest.mark.django_db(transaction=True)  # PostgreSQL: read-only applies to new transactions
def test_store_errors_are_counted_by_operation(webhook: Webhook, keyring_path: Path) -> None:
    webhook.post_fixture("text_message")  # the chat and its key exist
    failed = Delta("groupie_store_errors_total", operation="put_message")
    update = load_update("text_message")
    update["message"]["message_id"] += 1
    with read_only_database(keyring_path):
        assert webhook.post(update).status_code == 503
    assert failed.change == 1


def test_api_requests_by_endpoint_and_key_prefix_audit_entries_and_commands(
    api: Any, webhook: Webhook
) -> None:
    webhook.post_fixture("text_message")
    prefix = api.key_record.prefix
    by_key = Delta(
        "groupie_api_requests_total", endpoint="message-list", key=prefix, status_class="2xx"
    )
    by_session = Delta(
        "groupie_api_requests_total", endpoint="chat-list", key="session", status_class="2xx"
    )
    audited = Delta("groupie_audit_entries_total", channel="api")
    commands = Delta("groupie_command_runs_total", command="verify_archive", outcome="ok")
    assert api.get("/api/v1/messages/").status_code == 200
    assert staff_client(decrypt=True).get("/api/v1/chats/").status_code == 200
    call_command("verify_archive", stdout=StringIO(), stderr=StringIO())
    assert (by_key.change, by_session.change) == (1, 1)
    assert audited.change == 2  # both read decrypted messages through the API
    assert commands.change == 1


def test_process_memory_and_cpu(client: Client, db: None) -> None:
    client.get("/healthz")
    assert value("groupie_process_resident_memory_bytes") > 10_000_000
    assert value("groupie_process_cpu_seconds") > 0


def test_metrics_can_require_a_bearer_token(client: Client, db: None) -> None:
    with override_settings(GROUPIE_METRICS_TOKEN="scrape-token-0123456789"):
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-x"})
        assert wrong.status_code == 401
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert right.status_code == 200
        assert b"groupie_http_requests_total" in right.content


def test_metrics_on_their_own_port_are_not_on_the_main_one(client: Client, db: None) -> None:
    with override_settings(GROUPIE_METRICS_PORT=9464):
        assert client.get("/metrics").status_code == 404


def test_metrics_name_an_api_key_by_its_public_prefix_never_by_its_name(
    make_api_client: Any, client: Client
) -> None:
    """/metrics may be scraped by more people than may see the admin: a key's name (which an
    administrator may make telling, e.g. "legal-hold export for Acme") stays out of it, and so
    does anything of the secret beyond the prefix the key shows anyway."""
    api = make_api_client()
    api.key_record.name = "legal-export-for-acme"
    api.key_record.save(update_fields=["name"])
    assert api.get("/api/v1/chats/").status_code == 200
    scraped = client.get("/metrics").content.decode()
    assert "legal-export-for-acme" not in scraped
    assert api.key.split(".", 1)[1] not in scraped
    assert api.key_record.key_hash not in scraped
    assert f'key="{api.key_record.prefix}"' in scraped
