"""The keyring contract: wrap and unwrap small secrets (chat keys) under a versioned KEK."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class KekVersion:
    version: str
    state: str  # "enabled", "disabled" or "destroyed"
    primary: bool


class Keyring(ABC):
    """A key-encryption-key backend.

    Every method raises ``crypto.errors.KeyringError`` when the backend fails or cannot be
    reached (callers answer 503 and retry later) and ``DecryptionError`` when a wrapped blob
    fails authentication. Nothing is returned on failure.
    """

    @abstractmethod
    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[bytes, str]:
        """Encrypts ``plaintext`` under the primary KEK version; returns (wrapped, version)."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, aad: bytes) -> tuple[bytes, bool]:
        """Decrypts ``wrapped``; returns (plaintext, whether it was under the primary version).

        False means the secret should be rewrapped (``rewrap_keys``)."""

    @abstractmethod
    def rotate(self) -> str:
        """Creates a new KEK version, makes it primary and returns its id."""

    @abstractmethod
    def primary_version(self) -> str:
        """The id of the KEK version new wraps use."""

    @abstractmethod
    def versions(self) -> list[KekVersion]:
        """Every KEK version, oldest first."""
