"""CloudKMSKeyring: chat keys wrapped by a Cloud KMS CryptoKey.

Every Encrypt and Decrypt sends CRC32C checksums of what it sends and verifies the ones that
come back (Google's data-integrity guidance); a mismatch is retried like a transient error, a
bounded number of times with backoff, and then fails as a KeyringError (the webhook answers 503
and Telegram redelivers). Credentials are Application Default Credentials; ``endpoint`` (the
KMS_ENDPOINT setting) points the client at a loopback peer over an insecure channel, for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import google_crc32c
from google.api_core import exceptions as google_errors

from crypto.errors import DecryptionError, KeyringConfigurationError, KeyringError
from crypto.keyrings.base import KekVersion, Keyring

T = TypeVar("T")

_TRANSIENT = (
    google_errors.ServiceUnavailable,
    google_errors.DeadlineExceeded,
    google_errors.InternalServerError,
    google_errors.TooManyRequests,
    google_errors.Aborted,
)
_REFUSED = (google_errors.InvalidArgument, google_errors.FailedPrecondition)


class _ChecksumMismatch(Exception):
    pass


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


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

    def _call(self, operation: str, function: Callable[[], T]) -> T:
        """Runs ``function`` with bounded retries on transient errors and checksum mismatches.

        Every client call passes ``retry=None``: the library's own policy retries for up to a
        minute, longer than Telegram waits for an answer."""
        for attempt in range(1, self.attempts + 1):
            try:
                return function()
            except _REFUSED as exc:
                raise DecryptionError(f"Cloud KMS refused {operation}: {exc.message}") from None
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
        return [
            KekVersion(str(v.name), v.state.name.lower(), str(v.name) == primary) for v in listed
        ]
