"""Typed crypto failures. None of them carries key material or plaintext in its message."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every failure to seal or open a record."""


class EnvelopeFormatError(CryptoError):
    """The bytes are not an envelope this code can read (truncated, unknown format version)."""


class DecryptionError(CryptoError):
    """The envelope failed authentication: tampered, moved to another record, or wrong key."""


class ChatKeyMissing(CryptoError):
    """The chat-key version an envelope names does not exist."""


class ChatKeyDestroyed(CryptoError):
    """The chat key was shredded: its records can never be opened again."""


class ChatKeyRetired(CryptoError):
    """The chat-key version was retired after its records were re-sealed under a newer one; a
    record still naming it was missed by ``reencrypt_messages`` or restored from elsewhere."""


class KeyringError(CryptoError):
    """The keyring (KEK backend) failed or is unreachable. Callers answer 503 and retry later."""


class KeyringConfigurationError(KeyringError):
    """The keyring is missing or malformed; an operator has to act."""


class KeyringMismatch(KeyringConfigurationError):
    """The keyring is not the one the archive's chat keys were wrapped under (another keyring
    file, another Cloud KMS key). New chat keys are refused: made under the wrong KEK, their
    chats could never be read once the right keyring is back."""
