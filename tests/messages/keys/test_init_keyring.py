"""init_keyring creates the local keyring once, owner-only, and leaves any other alone."""

from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.test import override_settings

from crypto.keyrings.local import LocalKeyring


def _init_keyring() -> str:
    out = StringIO()
    call_command("init_keyring", stdout=out)
    return out.getvalue()


def test_it_creates_a_missing_keyring_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keyring.json"
    config = {"BACKEND": "crypto.keyrings.local.LocalKeyring", "OPTIONS": {"path": str(path)}}
    with override_settings(GROUPIE_KEYRING=config):
        said = _init_keyring()
    assert said == f"Created keyring {path} (mode 0600, KEK version 1).\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [v.label for v in LocalKeyring(path=str(path)).versions()] == ["1"]


def test_it_leaves_an_existing_keyring_as_it_is(keyring_path: Path) -> None:
    LocalKeyring(path=str(keyring_path)).rotate()
    before = keyring_path.read_bytes()
    said = _init_keyring()
    assert said == f"Keyring {keyring_path} already exists (2 KEK version(s), primary 2).\n"
    assert keyring_path.read_bytes() == before


def test_it_creates_nothing_for_cloud_kms() -> None:
    config = {
        "BACKEND": "crypto.keyrings.cloudkms.CloudKMSKeyring",
        "OPTIONS": {"key_name": "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
    }
    with override_settings(GROUPIE_KEYRING=config):
        said = _init_keyring()
    assert said == (
        "GROUPIE_KEYRING is crypto.keyrings.cloudkms.CloudKMSKeyring: no local keyring to create.\n"
    )
