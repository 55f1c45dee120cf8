"""CloudKMSKeyring through the real google-cloud-kms client against the loopback KMS peer."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from django.core.management import call_command

from crypto.errors import DecryptionError, KeyringError
from crypto.keyrings.cloudkms import CloudKMSKeyring
from messages.models import Message
from messages.sealing import chat_keys, get_keyring
from messages.services import archive
from tests.conftest import Webhook
from tests.factories import UpdateFactory
from tests.peers.kms import DISABLED
from webhooks.updates import parse_update


def test_it_wraps_and_unwraps_under_the_primary_version(kms: Any) -> None:
    keyring = get_keyring()
    assert isinstance(keyring, CloudKMSKeyring)
    wrapped, version = keyring.wrap(b"k" * 32, b"aad")
    assert version.endswith("/cryptoKeyVersions/1")
    assert keyring.unwrap(wrapped, b"aad") == (b"k" * 32, True)
    assert kms.calls["Encrypt"] == kms.calls["Decrypt"] == 1


def test_the_associated_data_binds_the_wrapped_key(kms: Any) -> None:
    wrapped, _ = get_keyring().wrap(b"k" * 32, b"chat 1")
    with pytest.raises(DecryptionError):
        get_keyring().unwrap(wrapped, b"chat 2")


def test_rotation_makes_a_new_primary_and_marks_old_wraps_for_rewrap(kms: Any) -> None:
    keyring = get_keyring()
    old, _ = keyring.wrap(b"s" * 32, b"aad")
    new_version = keyring.rotate()
    assert new_version.endswith("/cryptoKeyVersions/2")
    assert keyring.primary_version() == new_version
    assert keyring.unwrap(old, b"aad") == (b"s" * 32, False)
    _, used = keyring.wrap(b"t" * 32, b"aad")
    assert used == new_version
    states = [(v.version.rsplit("/", 1)[1], v.state, v.primary) for v in keyring.versions()]
    assert states == [("1", "enabled", False), ("2", "enabled", True)]


def test_a_disabled_version_cannot_unwrap(kms: Any) -> None:
    wrapped, _ = get_keyring().wrap(b"k" * 32, b"aad")
    kms.set_state(1, DISABLED)
    with pytest.raises(DecryptionError):
        get_keyring().unwrap(wrapped, b"aad")


def test_transient_failures_are_retried_a_bounded_number_of_times(kms: Any) -> None:
    kms.fail_next(2)
    get_keyring().wrap(b"k" * 32, b"aad")
    assert kms.calls["Encrypt"] == 3
    kms.fail_next(3)
    with pytest.raises(KeyringError):
        get_keyring().wrap(b"k" * 32, b"aad")
    assert kms.calls["Encrypt"] == 6


def test_a_checksum_mismatch_is_retried_then_fails(kms: Any) -> None:
    kms.corrupt_next(1)
    wrapped, _ = get_keyring().wrap(b"k" * 32, b"aad")
    assert kms.calls["Encrypt"] == 2
    kms.corrupt_next(3)
    with pytest.raises(KeyringError):
        get_keyring().unwrap(wrapped, b"aad")


def test_archiving_1000_messages_in_3_chats_costs_3_encrypts_and_reading_3_decrypts(
    kms: Any, db: None, api: Any
) -> None:
    chats = (-1001000000000001, -1001000000000002, -1001000000000003)
    for n in range(1000):
        incoming = parse_update(UpdateFactory(message__chat__id=chats[n % 3]))
        archive(incoming)  # type: ignore[arg-type]
    assert kms.calls["Encrypt"] == 3
    chat_keys().keys.clear()  # as a fresh process would start
    chat_keys().active_versions.clear()
    before = kms.calls["Decrypt"]
    url, seen = "/api/v1/messages/?page_size=500", 0
    while url:
        body = api.get(url).json()
        assert all(r["error"] is None for r in body["results"])
        seen += len(body["results"])
        url = body["next"]
    assert seen == 1000
    assert kms.calls["Decrypt"] - before <= 3


@pytest.mark.parametrize("fault", ["unavailable", "checksum"])
def test_a_kms_outage_is_a_503_with_nothing_stored_and_the_retry_succeeds(
    kms: Any, webhook: Webhook, fault: str
) -> None:
    if fault == "unavailable":
        kms.fail_next(3, grpc.StatusCode.UNAVAILABLE)
    else:
        kms.corrupt_next(3)
    response = webhook.post_fixture("text_message")
    assert response.status_code == 503
    assert not Message.objects.exists()
    assert webhook.post_fixture("text_message").json()["outcome"] == "created"


def test_readyz_round_trips_through_kms(kms: Any, client: Any, db: None) -> None:
    assert client.get("/readyz").json()["checks"]["keyring"] == "ok"
    kms.fail_next(10)
    assert client.get("/readyz").status_code == 503


def test_nothing_at_rest_holds_the_chat_keys_in_clear(kms: Any, db: None) -> None:
    call_command("load_demo", stdout=__import__("io").StringIO())
    from messages.models import ChatKey

    for row in ChatKey.objects.all():
        assert row.kek_version.endswith("/cryptoKeyVersions/1")
        key = chat_keys().key(row.chat_id, row.version)
        assert key not in bytes(row.wrapped)
    assert json.dumps(kms.calls)


def test_a_chat_key_under_an_old_kek_version_is_counted_for_rewrap(kms: Any, db: None) -> None:
    from groupie.metrics import KEYRING_CALLS

    archive(parse_update(UpdateFactory()))  # type: ignore[arg-type]
    get_keyring().rotate()
    chat_keys().keys.clear()
    chat_keys().active_versions.clear()
    before = KEYRING_CALLS.labels("unwrap", "not_primary")._value.get()
    archive(parse_update(UpdateFactory()))  # type: ignore[arg-type]
    assert KEYRING_CALLS.labels("unwrap", "not_primary")._value.get() == before + 1


def test_a_version_disabled_through_the_kms_api_stops_unwrapping(kms: Any) -> None:
    keyring = get_keyring()
    assert isinstance(keyring, CloudKMSKeyring)
    wrapped, version = keyring.wrap(b"k" * 32, b"aad")
    keyring.client.update_crypto_key_version(
        request={"crypto_key_version": {"name": version, "state": DISABLED}, "update_mask": "state"}
    )
    assert [v.state for v in keyring.versions()] == ["disabled"]
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, b"aad")


def test_a_slow_kms_hits_the_deadline_and_is_a_keyring_error(kms: Any) -> None:
    keyring = CloudKMSKeyring(
        key_name=kms.key_name, endpoint=kms.endpoint, timeout=0.2, attempts=2, backoff=0.01
    )
    kms.delay = 0.5
    with pytest.raises(KeyringError):
        keyring.wrap(b"k" * 32, b"aad")
    assert kms.calls["Encrypt"] == 2
