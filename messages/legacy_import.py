"""Migration from the Flask prototype ("telegramgroupie"): its Firestore ``messages`` documents
into groupie's archive, re-sealed under groupie's per-chat keys.

The prototype stored one document per message it received (again for every redelivery):
``message_id``, ``chat_id``, ``chat_title``, ``user_id``, ``username``, ``first_name``,
``timestamp`` (its server's time of writing, not Telegram's date) and ``encrypted_text``, a
map of base64 fields: ``encrypted_data_key`` (a random 256-bit key wrapped by Cloud KMS),
``iv``, ``ciphertext`` and ``tag`` (AES-GCM with associated data ``b"message"``), and an
unused ``salt``. Opening one costs one Cloud KMS Decrypt: the old format wraps a key per
message, so that cost is inherent and is counted and reported. Each message becomes the Bot API
message the prototype received (text messages only: it kept nothing else) and goes through
groupie's own ``archive()``; a redelivered copy is a duplicate, never a second record.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import CryptoError
from crypto.keyrings.cloudkms import CloudKMSKeyring
from groupie.commands import counted
from groupie.progress import Progress
from messages import audit
from messages.importing import Tally
from messages.outcome import Outcome, Refused, Stopped
from messages.stores.records import StoreError

SOURCE = "telegramgroupie"
AAD = b"message"
REQUIRED = ("message_id", "chat_id", "timestamp", "encrypted_text")
SEALED_FIELDS = ("encrypted_data_key", "iv", "ciphertext", "tag")


class BadDocument(ValueError):
    """A document that is not one of the prototype's messages: the message names it."""


class KeyCannotDecrypt(RuntimeError):
    """Cloud KMS refused to unwrap a data key: the wrong key, or no permission on it."""


@dataclass
class LegacyReader:
    """Reads and opens the prototype's documents, counting its Cloud KMS Decrypt calls."""

    project: str
    database: str
    collection: str
    kms_key: str
    kms_endpoint: str = ""
    decrypt_calls: int = 0
    _kms: Any = field(default=None, repr=False)

    def documents(self) -> Iterator[Any]:
        from google.cloud import firestore

        # FIRESTORE_EMULATOR_HOST, when set, is honoured by the client itself.
        client = firestore.Client(project=self.project, database=self.database or None)
        yield from client.collection(self.collection).stream()

    def count(self) -> int:
        from google.cloud import firestore

        client = firestore.Client(project=self.project, database=self.database or None)
        [[result]] = client.collection(self.collection).count().get()
        return int(result.value)

    def message(self, document: Any) -> dict[str, Any]:
        """The Bot API message a document stands for; raises BadDocument or KeyCannotDecrypt."""
        data = document.to_dict() or {}
        where = f"document {self.collection}/{document.id}"
        missing = [name for name in REQUIRED if data.get(name) is None]
        if missing:
            raise BadDocument(f"{where}: no {', '.join(missing)}")
        sealed = data["encrypted_text"]
        if not isinstance(sealed, dict) or any(not sealed.get(f) for f in SEALED_FIELDS):
            raise BadDocument(f"{where}: encrypted_text lacks {', '.join(SEALED_FIELDS)}")
        try:
            parts = {name: base64.b64decode(sealed[name], validate=True) for name in SEALED_FIELDS}
            message_id, chat_id = int(data["message_id"]), int(data["chat_id"])
        except (binascii.Error, TypeError, ValueError):
            raise BadDocument(f"{where}: a field is not what the prototype wrote") from None
        if not isinstance(data["timestamp"], datetime):
            raise BadDocument(f"{where}: timestamp is not a time")
        text = self._open(parts, where)
        chat_type = (
            "supergroup"
            if str(chat_id).startswith("-100")
            else "group"
            if chat_id < 0
            else "private"
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(data["timestamp"].timestamp()),
            "chat": {"id": chat_id, "type": chat_type, "title": data.get("chat_title") or ""},
            "text": text,
            "groupie_import": {
                "source": SOURCE,
                "date": "the prototype's server time of writing, not Telegram's date",
            },
        }
        if data.get("user_id") is not None:
            sender: dict[str, Any] = {
                "id": int(data["user_id"]),
                "is_bot": False,
                "first_name": data.get("first_name") or "?",
            }
            if data.get("username"):
                sender["username"] = data["username"]
            message["from"] = sender
        return message

    def _open(self, parts: dict[str, bytes], where: str) -> str:
        from google.api_core import exceptions as google_errors

        if self._kms is None:
            self._kms = CloudKMSKeyring(key_name=self.kms_key, endpoint=self.kms_endpoint).client
        self.decrypt_calls += 1
        try:
            answer = self._kms.decrypt(
                request={"name": self.kms_key, "ciphertext": parts["encrypted_data_key"]}
            )
        except (google_errors.InvalidArgument, google_errors.PermissionDenied) as exc:
            raise KeyCannotDecrypt(
                f"{where}: Cloud KMS would not unwrap its data key with {self.kms_key} "
                f"({type(exc).__name__}): the prototype's key, and Decrypt permission on it, "
                "are needed"
            ) from None
        try:
            plaintext = AESGCM(answer.plaintext).decrypt(
                parts["iv"], parts["ciphertext"] + parts["tag"], AAD
            )
        except (InvalidTag, ValueError):
            raise BadDocument(
                f"{where}: the text does not open (altered, or another format)"
            ) from None
        return plaintext.decode("utf-8")


def do_import_telegramgroupie(
    reader: LegacyReader, *, dry_run: bool = False, progress: Progress | None = None
) -> Outcome:
    """Archives every document ``reader`` reads (a dry run opens them and stores nothing),
    audits the run's summary and counts it. Refused when the prototype's key cannot decrypt;
    Stopped on an outage (a rerun continues: nothing is added twice)."""
    tally = Tally()
    progress = progress or Progress(sys.stderr, enabled=False)
    try:
        total = reader.count()
        for document in progress.iterate(reader.documents(), total, "documents"):
            try:
                message = reader.message(document)
            except BadDocument as exc:
                tally.skip(str(exc))
                continue
            where = f"document {reader.collection}/{document.id}"
            tally.archive(message, where, dry_run=dry_run)
    except KeyCannotDecrypt as exc:
        raise Refused(str(exc)) from None
    except (StoreError, CryptoError) as exc:
        raise Stopped(
            f"the archive is unavailable ({type(exc).__name__}) after "
            f"{counted(tally.counts['imported'], 'message')}; run again: it continues"
        ) from None
    summary = (
        f"{counted(sum(tally.counts.values()), 'document')}: "
        f"{tally.counted(dry_run=dry_run)}; "
        f"{counted(reader.decrypt_calls, 'Cloud KMS Decrypt call')} (one per document: the "
        "old format)"
    )
    if not dry_run:
        audit.record_action("import_telegramgroupie", filters={"summary": summary})
    return Outcome(f"import_telegramgroupie: {summary}", warnings=tally.skipped_lines())
