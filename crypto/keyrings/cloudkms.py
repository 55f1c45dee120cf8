"""CloudKMSKeyring: chat keys wrapped by a Cloud KMS CryptoKey.

Every Encrypt and Decrypt sends CRC32C checksums of what it sends and verifies the ones that
come back (Google's data-integrity guidance); a mismatch is retried like a transient error, a
bounded number of times with backoff, and then fails as a KeyringError (the webhook answers 503
and Telegram redelivers). Credentials are Application Default Credentials; ``endpoint`` (the
KMS_ENDPOINT setting) points the client at a loopback peer over an insecure channel, for tests.

KEK version states map onto CryptoKeyVersion states. Destroying a version schedules its
destruction (DESTROY_SCHEDULED, reported as "destroy_scheduled"): it stops decrypting at once
and, as the keyring contract says, this keyring never brings it back; within the scheduled
window an operator can still ``gcloud kms keys versions restore`` it (it returns DISABLED).
Cloud KMS has no minimum decryption version: ``set_min_decryption_version`` disables the
older versions instead, so unlike Vault or the local keyring nothing stops an operator from
enabling one of them again later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import google_crc32c
from google.api_core import exceptions as google_errors

from crypto.errors import CryptoError, DecryptionError, KeyringConfigurationError, KeyringError
from crypto.keyrings.base import (
    DESTROYED,
    DISABLED,
    ENABLED,
    SETTABLE_STATES,
    KekVersion,
    Keyring,
)

T = TypeVar("T")

_TRANSIENT = (
    google_errors.ServiceUnavailable,
    google_errors.DeadlineExceeded,
    google_errors.InternalServerError,
    google_errors.TooManyRequests,
    google_errors.Aborted,
)
_REFUSED = (google_errors.InvalidArgument, google_errors.FailedPrecondition)
DESTROY_SCHEDULED = "destroy_scheduled"
_STATES = {
    "ENABLED": ENABLED,
    "DISABLED": DISABLED,
    "DESTROYED": DESTROYED,
    "DESTROY_SCHEDULED": DESTROY_SCHEDULED,
}
_GONE = (DESTROYED, DESTROY_SCHEDULED)


class _ChecksumMismatch(Exception):
    pass


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def state_name(state: Any) -> str:
    """A CryptoKeyVersionState as KekVersion reports it."""
    name = str(getattr(state, "name", state))
    return _STATES.get(name, name.lower())


def _aad_fields(aad: bytes) -> dict[str, Any]:
    return {
        "additional_authenticated_data": aad,
        "additional_authenticated_data_crc32c": crc32c(aad),
    }


class CloudKMSKeyring(Keyring):
    def __init__(
        self,
        *,
        key_name: str,
        endpoint: str = "",
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.2,
        signing_key_name: str = "",
    ) -> None:
        if not key_name:
            raise KeyringConfigurationError(
                "set KMS_KEY_NAME to projects/P/locations/L/keyRings/R/cryptoKeys/K"
            )
        self.key_name = key_name
        self.endpoint = endpoint
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        # A CryptoKeyVersion of an EC_SIGN_ED25519 key: it signs the log's checkpoints.
        self.signing_key_name = signing_key_name
        self._public_key: bytes | None = None
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        from google.cloud import kms_v1

        if not self.endpoint:
            return kms_v1.KeyManagementServiceClient()
        import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.kms_v1.services.key_management_service.transports import (
            KeyManagementServiceGrpcTransport,
        )

        # Only ever a loopback test peer: no TLS, no credentials.
        channel = grpc.insecure_channel(self.endpoint)
        transport = KeyManagementServiceGrpcTransport(
            channel=channel, credentials=AnonymousCredentials()
        )
        return kms_v1.KeyManagementServiceClient(transport=transport)

    def _call(
        self,
        operation: str,
        function: Callable[[], T],
        *,
        refused: type[CryptoError] = DecryptionError,
    ) -> T:
        """Runs ``function`` with bounded retries on transient errors and checksum mismatches.

        Every client call passes ``retry=None``: the library's own policy retries for up to a
        minute, longer than Telegram waits for an answer. A refusal (INVALID_ARGUMENT,
        FAILED_PRECONDITION) raises ``refused``: a DecryptionError for the data path, a
        KeyringConfigurationError for the operations on KEK versions."""
        for attempt in range(1, self.attempts + 1):
            try:
                return function()
            except _REFUSED as exc:
                raise refused(f"Cloud KMS refused {operation}: {exc.message}") from None
            except (*_TRANSIENT, _ChecksumMismatch) as exc:
                if attempt == self.attempts:
                    raise KeyringError(
                        f"Cloud KMS {operation} failed after {attempt} attempts: "
                        f"{type(exc).__name__}"
                    ) from None
                time.sleep(self.backoff * 2 ** (attempt - 1))
            except google_errors.GoogleAPICallError as exc:
                raise KeyringError(f"Cloud KMS {operation} failed: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[bytes, str]:
        def encrypt() -> tuple[bytes, str]:
            response = self.client.encrypt(
                request={
                    "name": self.key_name,
                    "plaintext": plaintext,
                    "plaintext_crc32c": crc32c(plaintext),
                    **_aad_fields(aad),
                },
                timeout=self.timeout,
                retry=None,
            )
            if not (
                response.verified_plaintext_crc32c
                and response.verified_additional_authenticated_data_crc32c
                and crc32c(response.ciphertext) == response.ciphertext_crc32c
            ):
                raise _ChecksumMismatch
            return bytes(response.ciphertext), str(response.name)

        return self._call("Encrypt", encrypt)

    def unwrap(self, wrapped: bytes, aad: bytes) -> tuple[bytes, bool]:
        def decrypt() -> tuple[bytes, bool]:
            response = self.client.decrypt(
                request={
                    "name": self.key_name,
                    "ciphertext": wrapped,
                    "ciphertext_crc32c": crc32c(wrapped),
                    **_aad_fields(aad),
                },
                timeout=self.timeout,
                retry=None,
            )
            if crc32c(response.plaintext) != response.plaintext_crc32c:
                raise _ChecksumMismatch
            # used_primary=False: the chat key should be rewrapped (rewrap_keys).
            return bytes(response.plaintext), bool(response.used_primary)

        return self._call("Decrypt", decrypt)

    def rotate(self) -> str:
        version = self._call(
            "CreateCryptoKeyVersion",
            lambda: self.client.create_crypto_key_version(
                request={"parent": self.key_name, "crypto_key_version": {}},
                timeout=self.timeout,
                retry=None,
            ),
        )
        number = str(version.name).rsplit("/", 1)[1]
        self._call(
            "UpdateCryptoKeyPrimaryVersion",
            lambda: self.client.update_crypto_key_primary_version(
                request={"name": self.key_name, "crypto_key_version_id": number},
                timeout=self.timeout,
                retry=None,
            ),
        )
        return str(version.name)

    def primary_version(self) -> str:
        key = self._call(
            "GetCryptoKey",
            lambda: self.client.get_crypto_key(
                request={"name": self.key_name}, timeout=self.timeout, retry=None
            ),
        )
        return str(key.primary.name)

    def versions(self) -> list[KekVersion]:
        primary = self.primary_version()
        listed = self._call(
            "ListCryptoKeyVersions",
            lambda: list(
                self.client.list_crypto_key_versions(
                    request={"parent": self.key_name}, timeout=self.timeout, retry=None
                )
            ),
        )
        return [_kek_version(v, primary=str(v.name) == primary) for v in listed]

    def set_state(self, version: str, state: str) -> KekVersion:
        if state not in SETTABLE_STATES:
            raise ValueError(f"a KEK version's state is one of {', '.join(SETTABLE_STATES)}")
        target = self.version_of(version)  # KeyringConfigurationError if there is none
        if target.primary and state != ENABLED:
            raise KeyringConfigurationError(
                f"KEK version {target.label} is the primary version: rotate_kek first"
            )
        if target.state in _GONE:
            if state == DESTROYED:
                return target  # already on its way out, as the local keyring's destroy is
            raise KeyringConfigurationError(
                f"KEK version {target.label} is {target.state} and stays so; within the "
                "scheduled window only `gcloud kms keys versions restore` can bring it back"
            )
        if state == DESTROYED:
            destroyed = self._call(
                "DestroyCryptoKeyVersion",
                lambda: self.client.destroy_crypto_key_version(
                    request={"name": target.version}, timeout=self.timeout, retry=None
                ),
                refused=KeyringConfigurationError,
            )
            return _kek_version(destroyed, primary=False)
        return self._update_state(target, state)

    def set_min_decryption_version(self, version: str) -> list[KekVersion]:
        listed = self.versions()
        target = _named(listed, version)
        primary = next((v for v in listed if v.primary), None)
        if primary is not None and _number(target) > _number(primary):
            raise KeyringConfigurationError(
                "the minimum decryption version cannot be newer than the primary version"
            )
        older = [
            v
            for v in listed
            if v.state == ENABLED and not v.primary and _number(v) < _number(target)
        ]
        return [self._update_state(v, DISABLED) for v in older]

    def _update_state(self, target: KekVersion, state: str) -> KekVersion:
        from google.cloud import kms_v1

        states = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
        wanted = states.ENABLED if state == ENABLED else states.DISABLED
        updated = self._call(
            "UpdateCryptoKeyVersion",
            lambda: self.client.update_crypto_key_version(
                request={
                    "crypto_key_version": {"name": target.version, "state": wanted},
                    "update_mask": {"paths": ["state"]},
                },
                timeout=self.timeout,
                retry=None,
            ),
            refused=KeyringConfigurationError,
        )
        return _kek_version(updated, primary=target.primary)

    # -- the log's signing key (an EC_SIGN_ED25519 CryptoKeyVersion) --------------------------

    def _signing_name(self) -> str:
        if not self.signing_key_name:
            raise KeyringConfigurationError(
                "set KMS_SIGNING_KEY_NAME to the CryptoKeyVersion of an EC_SIGN_ED25519 key "
                "(projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/1)"
            )
        return self.signing_key_name

    def signing_public_key(self) -> bytes:
        if self._public_key is not None:
            return self._public_key
        name = self._signing_name()

        def get() -> bytes:
            response = self.client.get_public_key(
                request={"name": name}, timeout=self.timeout, retry=None
            )
            if crc32c(response.pem.encode()) != response.pem_crc32c:
                raise _ChecksumMismatch
            return str(response.pem).encode()

        pem = self._call("GetPublicKey", get, refused=KeyringConfigurationError)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )

        key = load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise KeyringConfigurationError(f"{name} is not an EC_SIGN_ED25519 key")
        self._public_key = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        name = self._signing_name()

        def sign() -> bytes:
            # Ed25519 is pure EdDSA: KMS signs the data itself, not a digest.
            response = self.client.asymmetric_sign(
                request={"name": name, "data": message, "data_crc32c": crc32c(message)},
                timeout=self.timeout,
                retry=None,
            )
            if not (
                response.verified_data_crc32c
                and crc32c(response.signature) == response.signature_crc32c
            ):
                raise _ChecksumMismatch
            return bytes(response.signature)

        return self._call("AsymmetricSign", sign, refused=KeyringConfigurationError)


def _kek_version(message: Any, *, primary: bool) -> KekVersion:
    created: datetime | None = message.create_time if "create_time" in message else None
    return KekVersion(
        version=str(message.name),
        state=state_name(message.state),
        primary=primary,
        created_at=created,
    )


def _named(listed: list[KekVersion], version: str) -> KekVersion:
    for candidate in listed:
        if version in (candidate.version, candidate.label):
            return candidate
    raise KeyringConfigurationError(f"the keyring has no KEK version {version}")


def _number(version: KekVersion) -> int:
    try:
        return int(version.label)
    except ValueError:
        raise KeyringConfigurationError(
            f"{version.version} is not a numbered Cloud KMS key version"
        ) from None
