"""A keyring that is not the archive's (another keyring file, another Cloud KMS key) never
makes a chat key: it would fork the archive, its chats unreadable once the right keyring is
back. Readiness fails naming the mismatch, and each worker says so at start-up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from crypto.keyrings.local import LocalKeyring
from messages.health import warn_at_start_up
from messages.models import ChatKey
from tests.conftest import KMS_KEY_NAME, Webhook

pytestmark = pytest.mark.django_db


def _local(path: Path) -> dict[str, Any]:
    return {"BACKEND": "crypto.keyrings.local.LocalKeyring", "OPTIONS": {"path": str(path)}}


def test_another_keyring_file_makes_no_chat_key(
    webhook: Webhook, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert webhook.post_fixture("text_message").status_code == 200
    other = tmp_path / "other-deployment.json"
    LocalKeyring.create_file(other)
    with override_settings(GROUPIE_KEYRING=_local(other)):
        response = webhook.post_fixture("private_message")  # a chat it has not seen
        assert response.status_code == 503
        assert ChatKey.objects.count() == 1
        checks = Client().get("/readyz").json()["checks"]
        assert checks["keyring"].startswith("failed: KeyringMismatch")
        with caplog.at_level(logging.CRITICAL, logger="messages.health"):
            warn_at_start_up()
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "not the one this archive's chat keys were wrapped under" in record.getMessage()
    # The right keyring back: the same update is archived under the archive's KEK.
    assert webhook.post_fixture("private_message").status_code == 200


def test_the_right_keyring_says_nothing_at_start_up(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    assert webhook.post_fixture("text_message").status_code == 200
    with caplog.at_level(logging.WARNING, logger="messages.health"):
        warn_at_start_up()
    assert caplog.records == []


def test_an_empty_archive_takes_any_keyring(webhook: Webhook) -> None:
    assert webhook.post_fixture("private_message").status_code == 200


def test_another_cloud_kms_key_makes_no_chat_key(kms: Any, webhook: Webhook) -> None:
    assert webhook.post_fixture("text_message").status_code == 200
    other_key = KMS_KEY_NAME.replace("chat-keys", "another-deployment")
    kms.add_key(other_key)
    config = {
        "BACKEND": "crypto.keyrings.cloudkms.CloudKMSKeyring",
        "OPTIONS": {"key_name": other_key, "endpoint": kms.endpoint, "backoff": 0.01},
    }
    with override_settings(GROUPIE_KEYRING=config):
        assert webhook.post_fixture("private_message").status_code == 503
        assert ChatKey.objects.count() == 1
        checks = Client().get("/readyz").json()["checks"]
        assert checks["keyring"].startswith("failed: KeyringMismatch")


def test_rotate_chat_keys_makes_no_key_under_another_keyring(
    webhook: Webhook, tmp_path: Path
) -> None:
    from django.core.management import CommandError, call_command

    assert webhook.post_fixture("text_message").status_code == 200
    other = tmp_path / "other-deployment.json"
    LocalKeyring.create_file(other)
    with (
        override_settings(GROUPIE_KEYRING=_local(other)),
        pytest.raises(CommandError, match="KeyringMismatch"),
    ):
        call_command("rotate_chat_keys", "--no-progress")
    assert list(ChatKey.objects.values_list("version", "state")) == [(1, "active")]
