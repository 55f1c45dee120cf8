"""KEK version states through the Keyring contract, for the local keyring and Cloud KMS.

Cloud KMS runs through the real google-cloud-kms client against the loopback KMS peer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
import pytest
from google.api_core import exceptions as google_errors

from crypto.errors import DecryptionError, KeyringConfigurationError, KeyringError
from crypto.keyrings.base import Keyring
from crypto.keyrings.cloudkms import CloudKMSKeyring
from crypto.keyrings.local import LocalKeyring
from tests.conftest import KMS_KEY_NAME
from tests.peers.kms import DESTROY_SCHEDULED, DISABLED, ENABLED

SECRET = bytes(range(32))
AAD = b"groupie/v1/chat-key|chat=-100123|v=1"


@pytest.fixture(params=["local", "cloudkms"])
def keyring(request: pytest.FixtureRequest, keyring_path: Path) -> Keyring:
    if request.param == "local":
        return LocalKeyring(path=str(keyring_path))
    kms = request.getfixturevalue("kms")
    return CloudKMSKeyring(key_name=kms.key_name, endpoint=kms.endpoint, backoff=0.01)


def is_cloud(keyring: Keyring) -> bool:
    return isinstance(keyring, CloudKMSKeyring)


def full_id(keyring: Keyring, label: str) -> str:
    """The id ``versions()`` reports for a short label, spelled out independently."""
    return f"{KMS_KEY_NAME}/cryptoKeyVersions/{label}" if is_cloud(keyring) else label


def summary(keyring: Keyring) -> list[tuple[str, str, bool, bool]]:
    return [(v.label, v.state, v.primary, v.decrypts) for v in keyring.versions()]


def add_version_behind_the_primary(keyring: Keyring, keyring_path: Path) -> None:
    """Version 2 exists but version 1 stays primary, as an operator can arrange."""
    if isinstance(keyring, CloudKMSKeyring):
        keyring.client.create_crypto_key_version(
            request={"parent": KMS_KEY_NAME, "crypto_key_version": {}}
        )
        return
    keyring.rotate()
    state = json.loads(keyring_path.read_text(encoding="utf-8"))
    state["primary"] = 1
    keyring_path.write_text(json.dumps(state), encoding="utf-8")


# -- rotation ----------------------------------------------------------------------------------


def test_rotation_adds_a_version_that_becomes_primary(keyring: Keyring) -> None:
    assert summary(keyring) == [("1", "enabled", True, True)]
    new = keyring.rotate()
    assert new == full_id(keyring, "2")
    assert keyring.primary_version() == new
    assert summary(keyring) == [("1", "enabled", False, True), ("2", "enabled", True, True)]
    versions = keyring.versions()
    assert [v.version for v in versions] == [full_id(keyring, "1"), new]
    first, second = (v.created_at for v in versions)
    assert first is not None
    assert second is not None
    assert first.tzinfo is not None
    assert first <= second


def test_a_secret_wrapped_under_v1_still_unwraps_after_rotation(keyring: Keyring) -> None:
    old, version = keyring.wrap(SECRET, AAD)
    assert version == full_id(keyring, "1")
    keyring.rotate()
    assert keyring.unwrap(old, AAD) == (SECRET, False)
    new, version = keyring.wrap(SECRET, AAD)
    assert version == full_id(keyring, "2")
    assert keyring.unwrap(new, AAD) == (SECRET, True)


# -- disable and enable ------------------------------------------------------------------------


def test_disabling_v1_stops_its_secrets_and_enabling_it_brings_them_back(
    keyring: Keyring,
) -> None:
    old, _ = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    disabled = keyring.set_state("1", "disabled")
    assert (disabled.version, disabled.state, disabled.primary) == (
        full_id(keyring, "1"),
        "disabled",
        False,
    )
    assert not disabled.decrypts
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, AAD)
    assert summary(keyring) == [("1", "disabled", False, False), ("2", "enabled", True, True)]
    new, _ = keyring.wrap(SECRET, AAD)  # the primary is untouched
    assert keyring.unwrap(new, AAD) == (SECRET, True)

    enabled = keyring.set_state("1", "enabled")
    assert (enabled.state, enabled.decrypts) == ("enabled", True)
    assert keyring.unwrap(old, AAD) == (SECRET, False)
    assert summary(keyring) == [("1", "enabled", False, True), ("2", "enabled", True, True)]


@pytest.mark.parametrize("state", ["disabled", "destroyed"])
def test_the_primary_version_cannot_be_disabled_or_destroyed(keyring: Keyring, state: str) -> None:
    with pytest.raises(KeyringConfigurationError, match="primary"):
        keyring.set_state("1", state)
    keyring.rotate()
    with pytest.raises(KeyringConfigurationError, match="primary"):
        keyring.set_state(full_id(keyring, "2"), state)
    assert summary(keyring) == [("1", "enabled", False, True), ("2", "enabled", True, True)]
    wrapped, _ = keyring.wrap(SECRET, AAD)
    assert keyring.unwrap(wrapped, AAD) == (SECRET, True)
    # Enabling the primary asks for nothing that could break it.
    assert keyring.set_state("2", "enabled").primary


def test_a_state_outside_enabled_disabled_destroyed_is_refused(keyring: Keyring) -> None:
    keyring.rotate()
    with pytest.raises(ValueError, match="enabled, disabled, destroyed"):
        keyring.set_state("1", "destroy_scheduled")
    assert summary(keyring)[0] == ("1", "enabled", False, True)


# -- destroy -----------------------------------------------------------------------------------


def test_destroying_v1_makes_its_secrets_unreadable_for_good(
    keyring: Keyring, keyring_path: Path
) -> None:
    old, _ = keyring.wrap(SECRET, AAD)
    material = json.loads(keyring_path.read_text(encoding="utf-8"))["versions"][0]["key"]
    keyring.rotate()
    gone = "destroy_scheduled" if is_cloud(keyring) else "destroyed"

    destroyed = keyring.set_state("1", "destroyed")
    assert (destroyed.version, destroyed.state, destroyed.primary) == (
        full_id(keyring, "1"),
        gone,
        False,
    )
    assert not destroyed.decrypts
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, AAD)
    for state in ("enabled", "disabled"):
        with pytest.raises(KeyringConfigurationError):
            keyring.set_state("1", state)
    assert keyring.set_state("1", "destroyed").state == gone  # destroying again changes nothing
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, AAD)
    assert summary(keyring) == [("1", gone, False, False), ("2", "enabled", True, True)]

    if not is_cloud(keyring):
        text = keyring_path.read_text(encoding="utf-8")
        assert material not in text
        assert json.loads(text)["versions"][0]["key"] is None
        # A fresh process reading the file agrees.
        assert LocalKeyring(path=str(keyring_path)).versions()[0].state == "destroyed"


# -- minimum decryption version ----------------------------------------------------------------


def test_a_minimum_decryption_version_stops_the_older_versions(keyring: Keyring) -> None:
    old, _ = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    new, _ = keyring.wrap(SECRET, AAD)

    stopped = keyring.set_min_decryption_version("2")
    assert [(v.version, v.primary, v.decrypts) for v in stopped] == [
        (full_id(keyring, "1"), False, False)
    ]
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, AAD)
    assert keyring.unwrap(new, AAD) == (SECRET, True)
    assert [(v.label, v.decrypts) for v in keyring.versions()] == [("1", False), ("2", True)]
    assert keyring.set_min_decryption_version("2") == []  # nothing more stops


def test_the_minimum_reports_only_the_versions_it_stopped(keyring: Keyring) -> None:
    keyring.rotate()
    keyring.rotate()
    keyring.set_state("1", "disabled")
    stopped = keyring.set_min_decryption_version(full_id(keyring, "3"))
    assert [v.label for v in stopped] == ["2"]
    assert [(v.label, v.decrypts) for v in keyring.versions()] == [
        ("1", False),
        ("2", False),
        ("3", True),
    ]


def test_the_minimum_version_itself_keeps_decrypting(keyring: Keyring) -> None:
    old, _ = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    middle, _ = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    assert [v.label for v in keyring.set_min_decryption_version("2")] == ["1"]
    assert keyring.unwrap(middle, AAD) == (SECRET, False)
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, AAD)
    assert [(v.label, v.decrypts) for v in keyring.versions()] == [
        ("1", False),
        ("2", True),
        ("3", True),
    ]


def test_a_minimum_newer_than_the_primary_is_refused(keyring: Keyring, keyring_path: Path) -> None:
    wrapped, _ = keyring.wrap(SECRET, AAD)
    add_version_behind_the_primary(keyring, keyring_path)
    assert summary(keyring) == [("1", "enabled", True, True), ("2", "enabled", False, True)]
    with pytest.raises(KeyringConfigurationError, match="primary"):
        keyring.set_min_decryption_version("2")
    assert keyring.unwrap(wrapped, AAD) == (SECRET, True)
    assert summary(keyring) == [("1", "enabled", True, True), ("2", "enabled", False, True)]


def test_a_minimum_at_the_primary_leaves_the_primary_alone(keyring: Keyring) -> None:
    assert keyring.set_min_decryption_version("1") == []
    wrapped, _ = keyring.wrap(SECRET, AAD)
    assert keyring.unwrap(wrapped, AAD) == (SECRET, True)


# -- naming versions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "9",
        "0",
        "",
        "latest",
        f"{KMS_KEY_NAME}/cryptoKeyVersions/9",
        "projects/p/locations/global/keyRings/r/cryptoKeys/other/cryptoKeyVersions/1",
    ],
)
def test_unknown_versions_are_refused(keyring: Keyring, name: str) -> None:
    wrapped, _ = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    for state in ("enabled", "disabled", "destroyed"):
        with pytest.raises(KeyringConfigurationError):
            keyring.set_state(name, state)
    with pytest.raises(KeyringConfigurationError):
        keyring.set_min_decryption_version(name)
    assert keyring.unwrap(wrapped, AAD) == (SECRET, False)
    assert summary(keyring) == [("1", "enabled", False, True), ("2", "enabled", True, True)]


@pytest.mark.parametrize("form", ["label", "id"])
def test_a_version_is_named_by_its_label_or_its_full_id(keyring: Keyring, form: str) -> None:
    def name(label: str) -> str:
        return label if form == "label" else full_id(keyring, label)

    old, _ = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    assert keyring.set_state(name("1"), "disabled").version == full_id(keyring, "1")
    with pytest.raises(DecryptionError):
        keyring.unwrap(old, AAD)
    assert keyring.set_state(name("1"), "enabled").decrypts
    assert keyring.unwrap(old, AAD) == (SECRET, False)
    with pytest.raises(KeyringConfigurationError):
        keyring.set_state(name("2"), "disabled")
    assert [v.version for v in keyring.set_min_decryption_version(name("2"))] == [
        full_id(keyring, "1")
    ]


# -- Cloud KMS specifics -----------------------------------------------------------------------


@pytest.fixture
def cloud(kms: Any) -> CloudKMSKeyring:
    return CloudKMSKeyring(key_name=kms.key_name, endpoint=kms.endpoint, backoff=0.01)


def test_cloud_kms_disables_through_update_and_destroys_by_scheduling(
    kms: Any, cloud: CloudKMSKeyring
) -> None:
    cloud.rotate()
    cloud.set_state("1", "disabled")
    assert kms.calls["UpdateCryptoKeyVersion"] == 1
    assert kms.state_of(1) == DISABLED
    cloud.set_state("1", "destroyed")
    assert kms.calls["DestroyCryptoKeyVersion"] == 1
    assert kms.state_of(1) == DESTROY_SCHEDULED
    # The scheduled duration passes: Cloud KMS reports the version destroyed.
    assert kms.finish_destruction() == [1]
    assert cloud.versions()[0].state == "destroyed"
    with pytest.raises(KeyringConfigurationError):
        cloud.set_state("1", "enabled")
    assert kms.calls["UpdateCryptoKeyVersion"] == 1  # refused before asking KMS


def test_cloud_kms_min_version_disables_only_enabled_older_versions(
    kms: Any, cloud: CloudKMSKeyring
) -> None:
    for _ in range(3):
        cloud.rotate()
    cloud.set_state("2", "destroyed")
    stopped = cloud.set_min_decryption_version("4")
    assert [(v.label, v.state) for v in stopped] == [("1", "disabled"), ("3", "disabled")]
    assert kms.calls["UpdateCryptoKeyVersion"] == 2
    assert [kms.state_of(n) for n in (1, 2, 3, 4)] == [
        DISABLED,
        DESTROY_SCHEDULED,
        DISABLED,
        ENABLED,
    ]


def test_a_destroy_scheduled_version_restored_in_kms_can_be_enabled_again(
    kms: Any, cloud: CloudKMSKeyring
) -> None:
    old, _ = cloud.wrap(SECRET, AAD)
    cloud.rotate()
    cloud.set_state("1", "destroyed")
    with pytest.raises(KeyringConfigurationError, match="restore"):
        cloud.set_state("1", "enabled")
    # The operator's way back within the scheduled window, through the KMS API.
    restored = cloud.client.restore_crypto_key_version(request={"name": full_id(cloud, "1")})
    assert restored.state == DISABLED
    assert cloud.versions()[0].state == "disabled"
    cloud.set_state("1", "enabled")
    assert cloud.unwrap(old, AAD) == (SECRET, False)


def test_a_transient_kms_failure_during_a_state_change_is_retried(
    kms: Any, cloud: CloudKMSKeyring
) -> None:
    cloud.rotate()
    kms.fail_next(2, grpc.StatusCode.UNAVAILABLE, method="UpdateCryptoKeyVersion")
    assert cloud.set_state("1", "disabled").state == "disabled"
    assert kms.calls["UpdateCryptoKeyVersion"] == 3
    kms.fail_next(3, grpc.StatusCode.UNAVAILABLE, method="UpdateCryptoKeyVersion")
    with pytest.raises(KeyringError) as raised:
        cloud.set_state("1", "enabled")
    assert type(raised.value) is KeyringError  # an outage, not a configuration problem
    assert kms.state_of(1) == DISABLED


@pytest.mark.parametrize(
    ("method", "state"),
    [("UpdateCryptoKeyVersion", "disabled"), ("DestroyCryptoKeyVersion", "destroyed")],
)
def test_a_kms_refusal_of_a_state_change_is_a_configuration_error(
    kms: Any, cloud: CloudKMSKeyring, method: str, state: str
) -> None:
    """Not a DecryptionError, as a refused Decrypt is: nothing was being decrypted."""
    cloud.rotate()
    kms.fail_next(1, grpc.StatusCode.FAILED_PRECONDITION, method=method)
    with pytest.raises(KeyringConfigurationError, match=method):
        cloud.set_state("1", state)
    assert kms.calls[method] == 1  # a refusal is not retried
    assert kms.state_of(1) == ENABLED


def test_the_peer_updates_only_what_the_update_mask_names(kms: Any, cloud: CloudKMSKeyring) -> None:
    name = full_id(cloud, "1")
    unchanged = cloud.client.update_crypto_key_version(
        request={
            "crypto_key_version": {"name": name, "state": DISABLED},
            "update_mask": {"paths": ["external_protection_level_options"]},
        }
    )
    assert unchanged.state == ENABLED
    with pytest.raises(google_errors.InvalidArgument):
        cloud.client.update_crypto_key_version(
            request={"crypto_key_version": {"name": name, "state": DISABLED}}
        )
    assert kms.state_of(1) == ENABLED
    assert kms.calls["UpdateCryptoKeyVersion"] == 2
