"""Backends from settings: misconfiguration fails loudly and by name; one instance per setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from crypto.keyrings.base import Keyring
from crypto.keyrings.local import LocalKeyring
from groupie.backends import BackendHandler

LOCAL = "crypto.keyrings.local.LocalKeyring"

# One handler for the module, as messages.sealing keeps one: it follows setting_changed.
keyrings: BackendHandler[Keyring] = BackendHandler("GROUPIE_KEYRING", Keyring)


def config(path: Path, **extra: Any) -> dict[str, Any]:
    return {"BACKEND": LOCAL, "OPTIONS": {"path": str(path)}, **extra}


def test_it_builds_the_configured_backend(keyring_path: Path) -> None:
    keyring = keyrings.get()
    assert isinstance(keyring, LocalKeyring)
    assert keyring.path == keyring_path


@pytest.mark.parametrize(
    "path",
    [
        "crypto.keyrings.nowhere.Keyring",
        "crypto.keyrings.local.NoSuchKeyring",
        "nodots",
        "no_such_package.Keyring",
    ],
)
def test_a_bad_dotted_path_names_the_setting_and_the_path(keyring_path: Path, path: str) -> None:
    with (
        override_settings(GROUPIE_KEYRING={"BACKEND": path, "OPTIONS": {}}),
        pytest.raises(ImproperlyConfigured) as caught,
    ):
        keyrings.get()
    message = str(caught.value)
    assert "GROUPIE_KEYRING" in message
    assert path in message


@pytest.mark.parametrize("missing", [{}, {"BACKEND": ""}, {"BACKEND": None, "OPTIONS": {}}])
def test_a_missing_backend_names_the_setting(missing: dict[str, Any]) -> None:
    with (
        override_settings(GROUPIE_KEYRING=missing),
        pytest.raises(ImproperlyConfigured, match="GROUPIE_KEYRING needs a BACKEND"),
    ):
        keyrings.get()


@pytest.mark.parametrize(
    "path",
    [
        "crypto.cache.TTLCache",  # a class, but not a Keyring
        "crypto.chatkeys.wrap_aad",  # not a class at all
        "crypto.keyrings.local.FILE_FORMAT",  # a string
    ],
)
def test_a_backend_that_is_not_a_keyring_is_refused(keyring_path: Path, path: str) -> None:
    with (
        override_settings(GROUPIE_KEYRING={"BACKEND": path, "OPTIONS": {}}),
        pytest.raises(ImproperlyConfigured) as caught,
    ):
        keyrings.get()
    message = str(caught.value)
    assert "GROUPIE_KEYRING" in message
    assert path in message
    assert "not a Keyring subclass" in message


def test_the_abstract_base_class_itself_is_not_built(keyring_path: Path) -> None:
    with (
        override_settings(GROUPIE_KEYRING={"BACKEND": "crypto.keyrings.base.Keyring"}),
        pytest.raises((ImproperlyConfigured, TypeError)),
    ):
        keyrings.get()


def test_an_unknown_option_is_named_with_the_accepted_ones(keyring_path: Path) -> None:
    bad = config(keyring_path)
    bad["OPTIONS"]["colour"] = "blue"
    with override_settings(GROUPIE_KEYRING=bad), pytest.raises(ImproperlyConfigured) as caught:
        keyrings.get()
    message = str(caught.value)
    assert "GROUPIE_KEYRING" in message
    assert "colour" in message
    assert "accepted: path" in message
    assert "blue" not in message


def test_several_unknown_options_are_all_named(keyring_path: Path) -> None:
    bad = {"BACKEND": LOCAL, "OPTIONS": {"path": str(keyring_path), "zeta": 1, "alpha": 2}}
    with (
        override_settings(GROUPIE_KEYRING=bad),
        pytest.raises(ImproperlyConfigured, match="alpha, zeta"),
    ):
        keyrings.get()


def test_an_unknown_top_level_key_is_named(keyring_path: Path) -> None:
    with (
        override_settings(GROUPIE_KEYRING=config(keyring_path, LOCATION="/srv")),
        pytest.raises(ImproperlyConfigured) as caught,
    ):
        keyrings.get()
    message = str(caught.value)
    assert "GROUPIE_KEYRING" in message
    assert "LOCATION" in message


def test_the_instance_is_built_once(keyring_path: Path) -> None:
    first = keyrings.get()
    assert keyrings.get() is first
    assert keyrings.get() is first


def test_overriding_the_setting_builds_a_new_instance(keyring_path: Path, tmp_path: Path) -> None:
    before = keyrings.get()
    other = tmp_path / "other-keyring.json"
    LocalKeyring.create_file(other)
    with override_settings(GROUPIE_KEYRING=config(other)):
        during = keyrings.get()
        assert during is not before
        assert isinstance(during, LocalKeyring)
        assert during.path == other
        assert keyrings.get() is during
    after = keyrings.get()
    assert after is not during
    assert isinstance(after, LocalKeyring)
    assert after.path == keyring_path


def test_overriding_another_setting_keeps_the_instance(keyring_path: Path) -> None:
    first = keyrings.get()
    with override_settings(GROUPIE_CHAT_KEY_CACHE={"TTL_SECONDS": 1, "MAX_KEYS": 1}):
        assert keyrings.get() is first


def test_a_fixed_configuration_is_picked_up_after_a_failure(keyring_path: Path) -> None:
    with (
        override_settings(GROUPIE_KEYRING={"BACKEND": "crypto.keyrings.nowhere.Keyring"}),
        pytest.raises(ImproperlyConfigured),
    ):
        keyrings.get()
    assert isinstance(keyrings.get(), LocalKeyring)


def test_create_builds_a_new_instance_each_time_without_caching_it(keyring_path: Path) -> None:
    cached = keyrings.get()
    built = keyrings.create(config(keyring_path))
    assert isinstance(built, LocalKeyring)
    assert built is not cached
    assert built is not keyrings.create(config(keyring_path))
    assert keyrings.get() is cached
