"""Migration from the Flask prototype: its Firestore documents (on the emulator), encrypted the
way it encrypted them (a faithful re-implementation below, against the loopback KMS peer),
re-sealed into groupie's archive once each."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.management import call_command
from django.core.management.base import CommandError

from crypto.keyrings.cloudkms import CloudKMSKeyring
from messages.models import AuditEntry

OLD_KEY = "projects/prototype/locations/global/keyRings/telegram/cryptoKeys/messages"
CHAT = -1009876543210


def prototype_encrypt(kms_client: Any, text: str) -> dict[str, str]:
    """What the prototype's MessageEncryption.encrypt_message stored: a KMS-wrapped random data
    key, AES-GCM with associated data b"message", the tag apart, and an unused salt."""
    data_key = os.urandom(32)
    wrapped = kms_client.encrypt(request={"name": OLD_KEY, "plaintext": data_key}).ciphertext
    iv = os.urandom(12)
    encryptor = Cipher(algorithms.AES(data_key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(b"message")
    ciphertext = encryptor.update(text.encode()) + encryptor.finalize()
    return {
        "encrypted_data_key": base64.b64encode(wrapped).decode(),
        "iv": base64.b64encode(iv).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "tag": base64.b64encode(encryptor.tag).decode(),
        "salt": base64.b64encode(os.urandom(16)).decode(),
    }


@pytest.fixture(params=["orm", "firestore"])
def backend(request: pytest.FixtureRequest, db: None) -> str:
    """The archive it moves into: the ORM store, or Firestore (with Cloud KMS)."""
    if request.param == "firestore":
        request.getfixturevalue("cloud")
    return str(request.param)


@pytest.fixture
def old_project(firestore_project: str) -> str:
    """The prototype's own project on the emulator, apart from groupie's."""
    return f"{firestore_project}-prototype"


@pytest.fixture
def prototype(backend: str, kms_server: Any, old_project: str, settings: Any) -> Any:
    """The prototype's collection: three messages, one stored twice (a redelivery), and one
    document without its encrypted text."""
    from google.cloud import firestore

    if backend == "orm":
        kms_server.reset()
    kms_server.add_key(OLD_KEY)
    settings.KMS_ENDPOINT = kms_server.endpoint
    kms_client = CloudKMSKeyring(key_name=OLD_KEY, endpoint=kms_server.endpoint).client
    collection = firestore.Client(project=old_project).collection("messages")
    for n, text in enumerate(("first 🚀", "second", "third"), start=1):
        document = {
            "message_id": n,
            "chat_id": CHAT,
            "chat_title": "Old Crew",
            "user_id": 4242,
            "username": "otto",
            "first_name": "Otto",
            "encrypted_text": prototype_encrypt(kms_client, text),
            "timestamp": datetime(2025, 1, 1, 12, n, tzinfo=UTC),
            "type": "telegram",
        }
        collection.add(document)
        if n == 2:
            collection.add(document)  # the prototype stored every redelivery again
    collection.document("broken").set({"message_id": 9, "chat_id": CHAT})
    kms_server.calls.clear()
    return kms_server


def run(project: str, *args: str) -> str:
    out = StringIO()
    call_command(
        "import_telegramgroupie", "--project", project, *args, stdout=out, stderr=StringIO()
    )
    return out.getvalue().strip()


def test_the_prototype_s_messages_move_once_each(
    prototype: Any, old_project: str, api: Any
) -> None:
    said = run(old_project, "--kms-key", OLD_KEY)
    assert said == (
        "import_telegramgroupie: 5 documents: 3 imported, 1 already present, 1 skipped; "
        "4 Cloud KMS Decrypt calls (one per document: the old format)"
    )
    assert prototype.calls["Decrypt"] == 4  # groupie's own key: wrapped, not unwrapped
    results = api.get(f"/api/v1/messages/?chat={CHAT}&ordering=date").json()["results"]
    assert [m["text"] for m in results] == ["first 🚀", "second", "third"]
    assert {m["imported_from"] for m in results} == {"telegramgroupie"}
    assert results[0]["date"] == "2025-01-01T12:01:00Z"  # the prototype's write time
    assert results[0]["sender"]["id"] == 4242
    assert AuditEntry.objects.filter(action="import_telegramgroupie").count() == 1
    again = run(old_project, "--kms-key", OLD_KEY)
    assert "0 imported, 4 already present, 1 skipped" in again


def test_a_wrong_key_stops_naming_the_document_and_the_key(
    prototype: Any, old_project: str
) -> None:
    wrong = OLD_KEY.replace("messages", "other")
    prototype.add_key(wrong)
    with pytest.raises(CommandError, match=r"document messages/.*would not unwrap.*other"):
        run(old_project, "--kms-key", wrong)


def test_a_document_larger_than_the_webhook_accepts_is_skipped_by_name(
    prototype: Any, old_project: str
) -> None:
    """Its text fits a Firestore document, but as the message the webhook would have carried
    (JSON, every control character escaped) it is over the webhook's limit: skipped and
    named, never archived without its text or cut."""
    from google.cloud import firestore

    kms_client = CloudKMSKeyring(key_name=OLD_KEY, endpoint=prototype.endpoint).client
    firestore.Client(project=old_project).collection("messages").document("huge").set(
        {
            "message_id": 7,
            "chat_id": CHAT,
            "encrypted_text": prototype_encrypt(kms_client, "\x01" * 200_000),
            "timestamp": datetime(2025, 1, 1, 12, 7, tzinfo=UTC),
        }
    )
    out, err = StringIO(), StringIO()
    arguments = ("--project", old_project, "--kms-key", OLD_KEY)
    call_command("import_telegramgroupie", *arguments, stdout=out, stderr=err)
    assert "3 imported, 1 already present, 2 skipped" in out.getvalue()
    assert "  skipped document messages/huge: 1,200," in err.getvalue()
    assert "more than the 1,048,576 the webhook accepts in an update" in err.getvalue()
