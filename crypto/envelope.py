"""The sealed-record format. Plain Python: no Django, so it is unit-tested and fuzzed alone.

Every record is sealed with its own key: HKDF-SHA256 over the chat key and a fresh random salt
gives a one-use AES-256-GCM key, so a chat key can live indefinitely without approaching
AES-GCM's per-key message bound. The associated data binds the ciphertext to its place (format,
purpose, chat, message, revision, chat-key version): an envelope moved to another message, chat
or revision fails to open instead of showing the wrong text.

Layout::

    format version (1 byte) | chat-key version (4, big-endian) | salt (16) | nonce (12) |
    ciphertext + GCM tag (16)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import DecryptionError, EnvelopeFormatError

FORMAT_VERSION = 1
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
HKDF_INFO = b"groupie/v1/message"

_HEADER = struct.Struct(">BI")
_OVERHEAD = _HEADER.size + SALT_BYTES + NONCE_BYTES + TAG_BYTES
_IDENTITY = struct.Struct(">BqqqI")
_MAX_KEY_VERSION = 2**32 - 1


@dataclass(frozen=True)
class Identity:
    """Where a sealed record lives. ``revision`` is Telegram's edit_date (0 for the original)."""

    chat_id: int
    message_id: int
    revision: int = 0
    purpose: str = "message"  # MESSAGE_PURPOSE, TITLE_PURPOSE or EVENT_PURPOSE:kind


MESSAGE_PURPOSE = "message"
TITLE_PURPOSE = "chat-title"


def message_identity(chat_id: int, message_id: int, edit_date: int) -> Identity:
    """A message revision's place: Telegram's edit_date is the revision (0 for the original)."""
    return Identity(chat_id=chat_id, message_id=message_id, revision=edit_date)


def title_identity(chat_id: int) -> Identity:
    """A chat's title, sealed with the chat key beside its messages."""
    return Identity(chat_id=chat_id, message_id=0, revision=0, purpose=TITLE_PURPOSE)


EVENT_PURPOSE = "chat-event"


def event_identity(chat_id: int, kind: str, event_id: int, date: int) -> Identity:
    """A chat event's place (a reaction, a membership change): its kind is bound too, so an
    event's envelope cannot pass for another kind's."""
    return Identity(
        chat_id=chat_id, message_id=event_id, revision=date, purpose=f"{EVENT_PURPOSE}:{kind}"
    )


def associated_data(identity: Identity, key_version: int) -> bytes:
    return (
        b"groupie|"
        + identity.purpose.encode("ascii")
        + b"|"
        + _IDENTITY.pack(
            FORMAT_VERSION,
            identity.chat_id,
            identity.message_id,
            identity.revision,
            key_version,
        )
    )


def derive_key(chat_key: bytes, salt: bytes) -> bytes:
    if len(chat_key) != KEY_BYTES:
        raise ValueError("a chat key is 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=HKDF_INFO)
    return hkdf.derive(chat_key)


def seal(chat_key: bytes, key_version: int, identity: Identity, plaintext: bytes) -> bytes:
    """Encrypts ``plaintext`` for ``identity`` under chat-key version ``key_version``."""
    if not 0 < key_version <= _MAX_KEY_VERSION:
        raise ValueError("chat-key version out of range")
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    aead = AESGCM(derive_key(chat_key, salt))
    ciphertext = aead.encrypt(nonce, plaintext, associated_data(identity, key_version))
    return _HEADER.pack(FORMAT_VERSION, key_version) + salt + nonce + ciphertext


def key_version_of(envelope: bytes) -> int:
    """The chat-key version an envelope was sealed under; raises EnvelopeFormatError."""
    if len(envelope) < _OVERHEAD:
        raise EnvelopeFormatError("envelope is truncated")
    format_version, key_version = _HEADER.unpack_from(envelope)
    if format_version != FORMAT_VERSION:
        raise EnvelopeFormatError(f"unknown envelope format version {format_version}")
    if key_version == 0:
        raise EnvelopeFormatError("envelope names chat-key version 0")
    return int(key_version)


def open_envelope(chat_key: bytes, identity: Identity, envelope: bytes) -> bytes:
    """Decrypts an envelope sealed for ``identity``.

    Raises EnvelopeFormatError for bytes that are not an envelope and DecryptionError when
    authentication fails; never returns anything but the original plaintext.
    """
    key_version = key_version_of(envelope)
    offset = _HEADER.size
    salt = envelope[offset : offset + SALT_BYTES]
    offset += SALT_BYTES
    nonce = envelope[offset : offset + NONCE_BYTES]
    ciphertext = envelope[offset + NONCE_BYTES :]
    aead = AESGCM(derive_key(chat_key, salt))
    try:
        return aead.decrypt(nonce, ciphertext, associated_data(identity, key_version))
    except InvalidTag:
        raise DecryptionError(
            f"envelope for chat {identity.chat_id} message {identity.message_id} "
            f"revision {identity.revision} failed authentication"
        ) from None
