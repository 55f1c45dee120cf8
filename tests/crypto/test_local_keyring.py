"""LocalKeyring: versioned KEKs in a 0600 JSON file, created explicitly, never implicitly."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from crypto.errors import DecryptionError, KeyringConfigurationError, KeyringError
from crypto.keyrings.base import KekVersion
from crypto.keyrings.local import LocalKeyring

SECRET = bytes(range(100, 132))
AAD = b"groupie/v1/chat-key|chat=-100123|v=1"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    """A new keyring file; made here, not by conftest, so this module runs without Django."""
    path = tmp_path / "local-keyring.json"
    LocalKeyring.create_file(path)
    return path


@pytest.fixture
def keyring(keyring_file: Path) -> LocalKeyring:
    return LocalKeyring(path=str(keyring_file))


def test_create_file_makes_a_keyring_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "new" / "keyring.json"
    assert LocalKeyring.create_file(path) is True
    assert mode_of(path) == 0o600
    versions = LocalKeyring(path=str(path)).versions()
    assert versions == [KekVersion("1", "enabled", True)]


def test_create_file_leaves_an_existing_keyring_alone(tmp_path: Path) -> None:
    path = tmp_path / "fresh.json"
    assert LocalKeyring.create_file(path) is True
    before = path.read_bytes()
    assert LocalKeyring.create_file(path) is False
    assert path.read_bytes() == before
    assert mode_of(path) == 0o600


def test_create_file_refuses_to_overwrite_a_rotated_keyring(tmp_path: Path) -> None:
    path = tmp_path / "fresh.json"
    LocalKeyring.create_file(path)
    LocalKeyring(path=str(path)).rotate()
    before = path.read_bytes()
    assert LocalKeyring.create_file(str(path)) is False
    assert path.read_bytes() == before


def test_it_unwraps_what_it_wrapped(keyring: LocalKeyring) -> None:
    wrapped, version = keyring.wrap(SECRET, AAD)
    assert version == "1"
    assert wrapped != SECRET
    assert keyring.unwrap(wrapped, AAD) == (SECRET, True)


def test_every_wrap_of_the_same_secret_differs(keyring: LocalKeyring) -> None:
    wraps = {keyring.wrap(SECRET, AAD)[0] for _ in range(20)}
    assert len(wraps) == 20


def test_it_rejects_a_wrapped_secret_under_other_associated_data(keyring: LocalKeyring) -> None:
    wrapped, _ = keyring.wrap(SECRET, AAD)
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, AAD + b"x")
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, b"")


def test_it_rejects_a_tampered_wrapped_secret(keyring: LocalKeyring) -> None:
    wrapped, _ = keyring.wrap(SECRET, AAD)
    for index in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionError):
            keyring.unwrap(bytes(tampered), AAD)


@pytest.mark.parametrize("length", [0, 3, 4, 16, 31])
def test_it_rejects_a_truncated_wrapped_secret(keyring: LocalKeyring, length: int) -> None:
    wrapped, _ = keyring.wrap(SECRET, AAD)
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped[:length], AAD)


def test_it_rejects_a_secret_wrapped_by_another_keyring(
    keyring: LocalKeyring, tmp_path: Path
) -> None:
    other_path = tmp_path / "other.json"
    LocalKeyring.create_file(other_path)
    wrapped, version = LocalKeyring(path=str(other_path)).wrap(SECRET, AAD)
    assert version == "1"
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, AAD)


def test_rotate_makes_a_new_primary_version(keyring: LocalKeyring) -> None:
    assert keyring.primary_version() == "1"
    assert keyring.rotate() == "2"
    assert keyring.primary_version() == "2"
    assert keyring.versions() == [
        KekVersion("1", "enabled", False),
        KekVersion("2", "enabled", True),
    ]
    assert keyring.rotate() == "3"
    assert [v.version for v in keyring.versions() if v.primary] == ["3"]


def test_old_wraps_still_unwrap_after_rotation_but_ask_to_be_rewrapped(
    keyring: LocalKeyring,
) -> None:
    old, old_version = keyring.wrap(SECRET, AAD)
    keyring.rotate()
    new, new_version = keyring.wrap(SECRET, AAD)
    assert (old_version, new_version) == ("1", "2")
    assert keyring.unwrap(old, AAD) == (SECRET, False)
    assert keyring.unwrap(new, AAD) == (SECRET, True)


def test_rotation_changes_the_key_not_just_the_label(keyring: LocalKeyring) -> None:
    keyring.rotate()
    keys = [e["key"] for e in json.loads(keyring.path.read_text())["versions"]]
    assert len(keys) == 2
    assert keys[0] != keys[1]


def test_another_instance_unwraps_what_was_wrapped_after_a_rotation_it_did_not_see(
    keyring_file: Path,
) -> None:
    first = LocalKeyring(path=str(keyring_file))
    second = LocalKeyring(path=str(keyring_file))
    before, _ = first.wrap(SECRET, AAD)
    assert second.unwrap(before, AAD) == (SECRET, True)  # second has now read the file

    assert first.rotate() == "2"
    after, version = first.wrap(SECRET, AAD)
    assert version == "2"
    assert second.unwrap(after, AAD) == (SECRET, True)
    assert second.unwrap(before, AAD) == (SECRET, False)


def test_another_instance_lists_a_rotation_made_elsewhere(keyring_file: Path) -> None:
    first = LocalKeyring(path=str(keyring_file))
    second = LocalKeyring(path=str(keyring_file))
    assert second.versions() == [KekVersion("1", "enabled", True)]
    first.rotate()
    assert second.versions() == [
        KekVersion("1", "enabled", False),
        KekVersion("2", "enabled", True),
    ]


def test_rotations_from_two_instances_do_not_lose_a_version(keyring_file: Path) -> None:
    first = LocalKeyring(path=str(keyring_file))
    second = LocalKeyring(path=str(keyring_file))
    assert first.rotate() == "2"
    assert second.rotate() == "3"
    assert [v.version for v in first.versions()] == ["1", "2", "3"]
    assert first.primary_version() == "3"


def test_another_instance_wraps_under_the_primary_another_process_rotated_to(
    keyring_file: Path,
) -> None:
    first = LocalKeyring(path=str(keyring_file))
    second = LocalKeyring(path=str(keyring_file))
    assert second.primary_version() == "1"
    first.rotate()
    assert second.primary_version() == "2"
    assert second.wrap(SECRET, AAD)[1] == "2"


def test_a_missing_keyring_file_names_the_command_that_creates_it(tmp_path: Path) -> None:
    keyring = LocalKeyring(path=str(tmp_path / "nowhere" / "keyring.json"))
    with pytest.raises(KeyringConfigurationError, match="init_keyring"):
        keyring.wrap(SECRET, AAD)
    with pytest.raises(KeyringConfigurationError, match="init_keyring"):
        keyring.versions()
    assert not (tmp_path / "nowhere" / "keyring.json").exists()


def test_a_missing_keyring_file_is_not_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "never-created.json"
    keyring = LocalKeyring(path=str(path))
    with pytest.raises(KeyringConfigurationError):
        keyring.primary_version()
    assert not path.exists()


def test_a_keyring_file_that_is_a_directory_is_a_keyring_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError):
        LocalKeyring(path=str(tmp_path)).versions()


def _valid_state(tmp_path: Path) -> dict:
    path = tmp_path / "template.json"
    LocalKeyring.create_file(path)
    return json.loads(path.read_text())


MALFORMED = [
    pytest.param(lambda s: "{not json", id="not-json"),
    pytest.param(lambda s: "", id="empty"),
    pytest.param(lambda s: json.dumps({**s, "format": "something-else/1"}), id="wrong-format"),
    pytest.param(
        lambda s: json.dumps({k: v for k, v in s.items() if k != "format"}), id="no-format"
    ),
    pytest.param(
        lambda s: json.dumps({k: v for k, v in s.items() if k != "versions"}), id="no-versions"
    ),
    pytest.param(lambda s: json.dumps({**s, "versions": 5}), id="versions-not-a-list"),
    pytest.param(
        lambda s: json.dumps({**s, "versions": [{**s["versions"][0], "key": "not base64!"}]}),
        id="key-not-base64",
    ),
    pytest.param(
        lambda s: json.dumps(
            {**s, "versions": [{**s["versions"][0], "key": base64.b64encode(b"k" * 16).decode()}]}
        ),
        id="key-too-short",
    ),
    pytest.param(
        lambda s: json.dumps(
            {**s, "versions": [{k: v for k, v in s["versions"][0].items() if k != "key"}]}
        ),
        id="version-without-key",
    ),
    pytest.param(lambda s: json.dumps({**s, "primary": 7}), id="primary-not-a-version"),
    pytest.param(lambda s: json.dumps({**s, "primary": "one"}), id="primary-not-a-number"),
    pytest.param(
        lambda s: json.dumps({**s, "versions": [{**s["versions"][0], "state": "on"}]}),
        id="unknown-state",
    ),
    pytest.param(
        lambda s: json.dumps([s]),
        id="top-level-array",
    ),
    pytest.param(
        lambda s: "null",
        id="top-level-null",
    ),
    pytest.param(
        lambda s: b"\xff\xfe\x00 not utf-8",
        id="not-utf-8",
    ),
    pytest.param(
        lambda s: json.dumps({k: v for k, v in s.items() if k != "primary"}),
        id="no-primary",
    ),
    pytest.param(
        lambda s: json.dumps(
            {**s, "versions": [{k: v for k, v in s["versions"][0].items() if k != "state"}]}
        ),
        id="version-without-state",
    ),
]


@pytest.mark.parametrize("content", MALFORMED)
def test_a_malformed_keyring_file_is_a_configuration_error(tmp_path: Path, content) -> None:
    state = _valid_state(tmp_path)
    path = tmp_path / "malformed.json"
    text = content(state)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    keyring = LocalKeyring(path=str(path))
    with pytest.raises(KeyringConfigurationError) as caught:
        keyring.wrap(SECRET, AAD)
    assert state["versions"][0]["key"] not in str(caught.value)


def test_the_malformed_error_does_not_quote_the_file(tmp_path: Path) -> None:
    state = _valid_state(tmp_path)
    short = base64.b64encode(b"sixteen byte key").decode()
    state["versions"][0]["key"] = short
    path = tmp_path / "malformed.json"
    path.write_text(json.dumps(state))
    with pytest.raises(KeyringConfigurationError) as caught:
        LocalKeyring(path=str(path)).versions()
    assert short not in str(caught.value)
    assert "malformed" in str(caught.value)


def test_the_file_never_holds_a_wrapped_secret_in_plaintext(keyring: LocalKeyring) -> None:
    secrets = [os.urandom(32) for _ in range(3)]
    for secret in secrets:
        keyring.wrap(secret, AAD)
    keyring.rotate()
    for secret in secrets:
        keyring.wrap(secret, AAD)
    content = keyring.path.read_bytes()
    for secret in secrets:
        assert secret not in content
        assert base64.b64encode(secret) not in content
        assert secret.hex().encode() not in content


def test_rotate_keeps_the_file_owner_only_and_leaves_no_temporary(keyring: LocalKeyring) -> None:
    keyring.rotate()
    keyring.rotate()
    assert mode_of(keyring.path) == 0o600
    leftovers = [p.name for p in keyring.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_rotate_writes_only_the_documented_fields(keyring: LocalKeyring) -> None:
    keyring.rotate()
    state = json.loads(keyring.path.read_text())
    assert state["primary"] == 2
    for entry in state["versions"]:
        assert set(entry) == {"version", "state", "created_at", "key"}
        assert len(base64.b64decode(entry["key"])) == 32
