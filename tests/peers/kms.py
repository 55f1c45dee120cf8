"""A loopback Cloud KMS: the real gRPC protocol, real AES-GCM key versions, CRC32C fields.

The project's CloudKMSKeyring talks to it through the real google-cloud-kms client over an
insecure loopback channel (KMS_ENDPOINT). It counts calls per method and can be told to fail:
``fail_next(n, code)`` answers the next n calls with a gRPC error, ``corrupt_next(n)`` sends
responses whose CRC32C does not match, ``delay`` slows every call. ``fail_next(n, code,
method="Decrypt")`` fails only that method's calls.

Key versions follow Cloud KMS's lifecycle: UpdateCryptoKeyVersion changes only what its
update_mask names and moves a version between ENABLED and DISABLED; DestroyCryptoKeyVersion
schedules destruction (DESTROY_SCHEDULED, the material kept for the scheduled duration);
RestoreCryptoKeyVersion takes a scheduled version back to DISABLED; ``finish_destruction()``
stands for the scheduled duration passing, after which the material is gone (DESTROYED).
Decrypt under any version that is not ENABLED fails with FAILED_PRECONDITION.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections import Counter
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import google_crc32c
import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.cloud import kms_v1

SERVICE = "google.cloud.kms.v1.KeyManagementService"
_VERSION = struct.Struct(">I")
ENABLED = kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
DISABLED = kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DISABLED
DESTROYED = kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DESTROYED
DESTROY_SCHEDULED = kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DESTROY_SCHEDULED
# Cloud KMS's default destroy_scheduled_duration.
SCHEDULED_DESTRUCTION = timedelta(days=30)


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


@dataclass
class _Version:
    material: bytes
    state: Any
    create_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    destroy_time: datetime | None = None  # when a scheduled destruction happens
    destroy_event_time: datetime | None = None  # when it happened


@dataclass
class _Key:
    versions: dict[int, _Version] = field(default_factory=dict)
    primary: int = 0


class KmsPeer:
    def __init__(self, key_name: str) -> None:
        self.key_name = key_name
        self.calls: Counter[str] = Counter()
        self.delay = 0.0
        self._faults: list[tuple[str | None, grpc.StatusCode]] = []  # (method or any, code)
        self._corrupt = 0
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self.reset()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers([self._handlers()])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self._corrupt = 0
            self.delay = 0.0
            self._keys = {self.key_name: _Key()}
            self._add_version(self.key_name, make_primary=True)
            # An EC_SIGN_ED25519 key's one version, for the archive log's checkpoints.
            self._signing = {self.signing_key_name: Ed25519PrivateKey.generate()}

    @property
    def signing_key_name(self) -> str:
        return self.key_name.rsplit("/", 1)[0] + "/groupie-log/cryptoKeyVersions/1"

    def add_key(self, key_name: str) -> None:
        """Another CryptoKey beside the configured one (as another deployment's would be)."""
        with self._lock:
            self._keys[key_name] = _Key()
            self._add_version(key_name, make_primary=True)

    def fail_next(
        self,
        count: int,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        *,
        method: str | None = None,
    ) -> None:
        """Answers the next ``count`` calls (of ``method`` only, if given) with ``code``."""
        with self._lock:
            self._faults.extend([(method, code)] * count)

    def corrupt_next(self, count: int) -> None:
        with self._lock:
            self._corrupt += count

    def set_state(self, version: int, state: Any) -> None:
        """Forces a version's state, as an operator outside the application could."""
        with self._lock:
            self._keys[self.key_name].versions[version].state = state

    def state_of(self, version: int) -> Any:
        with self._lock:
            return self._keys[self.key_name].versions[version].state

    def finish_destruction(self) -> list[int]:
        """The scheduled duration passes: every DESTROY_SCHEDULED version loses its material."""
        done = []
        with self._lock:
            for number, entry in self._keys[self.key_name].versions.items():
                if entry.state == DESTROY_SCHEDULED:
                    entry.state, entry.material = DESTROYED, b""
                    entry.destroy_event_time = datetime.now(UTC)
                    done.append(number)
        return done

    # -- the service ---------------------------------------------------------------------------

    def _handlers(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Any, Any, Any]] = {  # name: (handler, request, response)
            "Encrypt": (self._encrypt, kms_v1.EncryptRequest, kms_v1.EncryptResponse),
            "Decrypt": (self._decrypt, kms_v1.DecryptRequest, kms_v1.DecryptResponse),
            "GetCryptoKey": (self._get_key, kms_v1.GetCryptoKeyRequest, kms_v1.CryptoKey),
            "CreateCryptoKeyVersion": (
                self._create_version,
                kms_v1.CreateCryptoKeyVersionRequest,
                kms_v1.CryptoKeyVersion,
            ),
            "UpdateCryptoKeyPrimaryVersion": (
                self._update_primary,
                kms_v1.UpdateCryptoKeyPrimaryVersionRequest,
                kms_v1.CryptoKey,
            ),
            "UpdateCryptoKeyVersion": (
                self._update_version,
                kms_v1.UpdateCryptoKeyVersionRequest,
                kms_v1.CryptoKeyVersion,
            ),
            "DestroyCryptoKeyVersion": (
                self._destroy_version,
                kms_v1.DestroyCryptoKeyVersionRequest,
                kms_v1.CryptoKeyVersion,
            ),
            "RestoreCryptoKeyVersion": (
                self._restore_version,
                kms_v1.RestoreCryptoKeyVersionRequest,
                kms_v1.CryptoKeyVersion,
            ),
            "AsymmetricSign": (
                self._asymmetric_sign,
                kms_v1.AsymmetricSignRequest,
                kms_v1.AsymmetricSignResponse,
            ),
            "GetPublicKey": (self._get_public_key, kms_v1.GetPublicKeyRequest, kms_v1.PublicKey),
            "ListCryptoKeyVersions": (
                self._list_versions,
                kms_v1.ListCryptoKeyVersionsRequest,
                kms_v1.ListCryptoKeyVersionsResponse,
            ),
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._wrapped(name, function),
                request_deserializer=request.deserialize,
                response_serializer=response.serialize,
            )
            for name, (function, request, response) in methods.items()
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def _wrapped(self, name: str, function: Any) -> Any:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.calls[name] += 1
                fault = self._take_fault(name)
            if self.delay:
                time.sleep(self.delay)
            if fault is not None:
                context.abort(fault, "injected fault")
            return function(request, context)

        return handle

    def _version_name(self, key_name: str, version: int) -> str:
        return f"{key_name}/cryptoKeyVersions/{version}"

    def _add_version(self, key_name: str, *, make_primary: bool) -> int:
        key = self._keys[key_name]
        number = max(key.versions, default=0) + 1
        key.versions[number] = _Version(AESGCM.generate_key(bit_length=256), ENABLED)
        if make_primary:
            key.primary = number
        return number

    def _key(self, name: str, context: grpc.ServicerContext) -> _Key:
        key = self._keys.get(name.split("/cryptoKeyVersions/")[0])
        if key is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return key  # type: ignore[return-value]

    def _check_crc(self, data: bytes, crc: Any, what: str, context: grpc.ServicerContext) -> bool:
        if crc is None:
            return False
        if crc32c(data) != crc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{what} CRC32C mismatch")
        return True

    def _take_fault(self, name: str) -> grpc.StatusCode | None:
        for index, (method, code) in enumerate(self._faults):
            if method in (None, name):
                del self._faults[index]
                return code
        return None

    def _take_corruption(self) -> bool:
        with self._lock:
            if self._corrupt:
                self._corrupt -= 1
                return True
        return False

    def _encrypt(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = self._key(request.name, context)
        primary = key.versions[key.primary]
        material = primary.material
        if primary.state != ENABLED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "primary version not enabled")
        plaintext_ok = self._check_crc(
            request.plaintext, _optional(request, "plaintext_crc32c"), "plaintext", context
        )
        aad_ok = self._check_crc(
            request.additional_authenticated_data,
            _optional(request, "additional_authenticated_data_crc32c"),
            "aad",
            context,
        )
        nonce = os.urandom(12)
        ciphertext = (
            _VERSION.pack(key.primary)
            + nonce
            + AESGCM(material).encrypt(
                nonce, request.plaintext, request.additional_authenticated_data
            )
        )
        checksum = crc32c(ciphertext) ^ (1 if self._take_corruption() else 0)
        return kms_v1.EncryptResponse(
            name=self._version_name(request.name.split("/cryptoKeyVersions/")[0], key.primary),
            ciphertext=ciphertext,
            ciphertext_crc32c=checksum,
            verified_plaintext_crc32c=plaintext_ok,
            verified_additional_authenticated_data_crc32c=aad_ok,
        )

    def _decrypt(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = self._key(request.name, context)
        self._check_crc(
            request.ciphertext, _optional(request, "ciphertext_crc32c"), "ciphertext", context
        )
        blob = request.ciphertext
        if len(blob) < _VERSION.size + 12 + 16:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "ciphertext is invalid")
        (number,) = _VERSION.unpack_from(blob)
        entry = key.versions.get(number)
        if entry is None or entry.state != ENABLED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"version {number} is not enabled")
        assert entry is not None  # abort raised otherwise
        try:
            plaintext = AESGCM(entry.material).decrypt(
                blob[4:16], blob[16:], request.additional_authenticated_data
            )
        except InvalidTag:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "decryption failed")
        checksum = crc32c(plaintext) ^ (1 if self._take_corruption() else 0)
        return kms_v1.DecryptResponse(
            plaintext=plaintext, plaintext_crc32c=checksum, used_primary=number == key.primary
        )

    def _signing_key(self, name: str, context: grpc.ServicerContext) -> Ed25519PrivateKey:
        key = self._signing.get(name)
        if key is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return key  # type: ignore[return-value]

    def _asymmetric_sign(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = self._signing_key(request.name, context)
        if request.digest:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "EC_SIGN_ED25519 signs data")
        data_ok = self._check_crc(request.data, _optional(request, "data_crc32c"), "data", context)
        signature = key.sign(request.data)
        checksum = crc32c(signature) ^ (1 if self._take_corruption() else 0)
        return kms_v1.AsymmetricSignResponse(
            name=request.name,
            signature=signature,
            signature_crc32c=checksum,
            verified_data_crc32c=data_ok,
        )

    def _get_public_key(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = self._signing_key(request.name, context)
        pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return kms_v1.PublicKey(
            name=request.name,
            pem=pem.decode(),
            pem_crc32c=crc32c(pem),
            algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.EC_SIGN_ED25519,
        )

    def _version_message(self, key_name: str, number: int, entry: _Version) -> Any:
        return kms_v1.CryptoKeyVersion(
            name=self._version_name(key_name, number),
            state=entry.state,
            create_time=entry.create_time,
            destroy_time=entry.destroy_time,
            destroy_event_time=entry.destroy_event_time,
        )

    def _crypto_key(self, name: str, key: _Key) -> Any:
        primary = self._version_message(name, key.primary, key.versions[key.primary])
        return kms_v1.CryptoKey(name=name, primary=primary)

    def _entry(self, name: str, context: grpc.ServicerContext) -> tuple[str, _Key, int, _Version]:
        """The key name, key, number and version a cryptoKeyVersions/N name points at."""
        key = self._key(name, context)
        key_name, _, label = name.partition("/cryptoKeyVersions/")
        entry = key.versions.get(int(label)) if label.isdigit() else None
        if entry is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return key_name, key, int(label), entry  # type: ignore[return-value]

    def _get_key(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._crypto_key(request.name, self._key(request.name, context))

    def _create_version(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._key(request.parent, context)
        with self._lock:
            number = self._add_version(request.parent, make_primary=False)
            entry = self._keys[request.parent].versions[number]
        return self._version_message(request.parent, number, entry)

    def _update_primary(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = self._key(request.name, context)
        number = int(request.crypto_key_version_id)
        with self._lock:
            if number not in key.versions:
                context.abort(grpc.StatusCode.NOT_FOUND, "no such version")
            key.primary = number
            return self._crypto_key(request.name, key)

    def _update_version(self, request: Any, context: grpc.ServicerContext) -> Any:
        # As Cloud KMS: the update_mask is required and only the fields it names change; the
        # state moves only between ENABLED and DISABLED.
        paths = list(request.update_mask.paths)
        if not paths:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "update_mask is required")
        unknown = set(paths) - {"state", "external_protection_level_options"}
        if unknown:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot update {sorted(unknown)}")
        key_name, _, number, entry = self._entry(request.crypto_key_version.name, context)
        with self._lock:
            if "state" in paths:
                wanted = request.crypto_key_version.state
                if wanted not in (ENABLED, DISABLED):
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "state can only be ENABLED or DISABLED"
                    )
                if entry.state not in (ENABLED, DISABLED):
                    context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"version {number} is {entry.state.name}, not ENABLED or DISABLED",
                    )
                entry.state = wanted
            return self._version_message(key_name, number, entry)

    def _destroy_version(self, request: Any, context: grpc.ServicerContext) -> Any:
        key_name, _, number, entry = self._entry(request.name, context)
        with self._lock:
            if entry.state not in (ENABLED, DISABLED):
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"version {number} is {entry.state.name}, not ENABLED or DISABLED",
                )
            entry.state = DESTROY_SCHEDULED
            entry.destroy_time = datetime.now(UTC) + SCHEDULED_DESTRUCTION
            return self._version_message(key_name, number, entry)

    def _restore_version(self, request: Any, context: grpc.ServicerContext) -> Any:
        key_name, _, number, entry = self._entry(request.name, context)
        with self._lock:
            if entry.state != DESTROY_SCHEDULED:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"version {number} is {entry.state.name}, not DESTROY_SCHEDULED",
                )
            entry.state, entry.destroy_time = DISABLED, None  # restored versions come back off
            return self._version_message(key_name, number, entry)

    def _list_versions(self, request: Any, context: grpc.ServicerContext) -> Any:
        key = self._key(request.parent, context)
        with self._lock:
            listed = sorted(key.versions.items())
        return kms_v1.ListCryptoKeyVersionsResponse(
            crypto_key_versions=[self._version_message(request.parent, n, e) for n, e in listed],
            total_size=len(listed),
        )


def _optional(message: Any, field_name: str) -> int | None:
    """The value of an optional (wrapper-typed) CRC field, or None when the client sent none."""
    return int(getattr(message, field_name)) if field_name in message else None


def main(argv: list[str] | None = None) -> None:
    """Runs the peer in a process of its own (bench/peer.py uses it so its CPU is measured apart).

    Prints one JSON line, ``{"endpoint": ..., "pid": ...}``, then reads commands from stdin, one
    a line: ``counts`` answers the calls per method as one JSON line, ``delay MS`` sets the delay
    of every call; end of input stops the peer.

        python -m tests.peers.kms --key-name projects/p/locations/l/keyRings/r/cryptoKeys/k \\
            [--delay-ms 10]
    """
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description="A loopback Cloud KMS peer.")
    parser.add_argument("--key-name", required=True, help="the CryptoKey it serves")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="added to every call")
    args = parser.parse_args(argv)
    peer = KmsPeer(args.key_name)
    peer.delay = args.delay_ms / 1000
    peer.start()
    print(json.dumps({"endpoint": peer.endpoint, "pid": os.getpid()}), flush=True)
    try:
        for line in sys.stdin:
            command, _, value = line.strip().partition(" ")
            if command == "counts":
                with peer._lock:
                    calls = dict(peer.calls)
                print(json.dumps(calls), flush=True)
            elif command == "delay":
                peer.delay = float(value) / 1000
                print(json.dumps({"delay_ms": float(value)}), flush=True)
            elif command:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    finally:
        peer.stop()


if __name__ == "__main__":
    main()
