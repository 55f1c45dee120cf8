"""The keyring contract: wrap and unwrap small secrets (chat keys) under a versioned KEK."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from crypto.errors import KeyringConfigurationError

ENABLED, DISABLED, DESTROYED = "enabled", "disabled", "destroyed"
SETTABLE_STATES = (ENABLED, DISABLED, DESTROYED)


@dataclass(frozen=True)
class KekVersion:
    version: str
    state: str  # ENABLED, DISABLED, DESTROYED, or the backend's own (e.g. "destroy_scheduled")
    primary: bool
    created_at: datetime | None = field(default=None, compare=False)
    below_minimum: bool = False  # older than the minimum decryption version

    @property
    def decrypts(self) -> bool:
        return self.state == ENABLED and not self.below_minimum

    @property
    def label(self) -> str:
        """A short name for reports: the number, not a Cloud KMS resource path."""
        return self.version.rsplit("/", 1)[-1]


class Keyring(ABC):
    """A key-encryption-key backend.

    Every method raises ``crypto.errors.KeyringError`` when the backend fails or cannot be
    reached (callers answer 503 and retry later) and ``DecryptionError`` when a wrapped blob
    fails authentication. Nothing is returned on failure.
    """

    def create(self) -> str | None:
        """Creates the keyring's own storage if this backend keeps one and it is missing, and
        says what it found or did; None for a backend whose keys are made elsewhere (Cloud KMS:
        with gcloud). Never replaces an existing keyring."""
        return None

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

    @abstractmethod
    def set_state(self, version: str, state: str) -> KekVersion:
        """Enables, disables or destroys one KEK version (not the primary one) and returns it.

        ``version`` is an id as ``versions()`` reports it, or its short label. Disabling is
        reversible; destroying is not (Cloud KMS schedules it)."""

    @abstractmethod
    def set_min_decryption_version(self, version: str) -> list[KekVersion]:
        """Refuses to unwrap under any version older than ``version``, as Vault Transit's
        ``min_decryption_version`` does; returns the versions that stopped decrypting."""

    # -- the archive log's signing key (crypto.note) -----------------------------------------

    def signing_public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key that checks the log's checkpoints. Raises
        KeyringConfigurationError when this keyring holds no signing key."""
        raise KeyringConfigurationError(f"{type(self).__name__} holds no log signing key")

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (a checkpoint's text) by the signing
        key; the private key never leaves the keyring."""
        raise KeyringConfigurationError(f"{type(self).__name__} holds no log signing key")

    def version_of(self, version: str) -> KekVersion:
        """The version named by an id or a short label; KeyringConfigurationError if none."""
        for candidate in self.versions():
            if version in (candidate.version, candidate.label):
                return candidate
        raise KeyringConfigurationError(f"the keyring has no KEK version {version}")
