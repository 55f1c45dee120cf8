"""LocalKeyring: AES-256 KEK versions in a 0600 JSON file. For development and single boxes.

The file is created by ``manage.py init_keyring`` (``make setup`` runs it), never implicitly on
first use: a keyring path that points at the wrong volume must fail loudly, not quietly start a
new KEK that cannot open the existing archive.
"""

from __future__ import annotations

import base64
import copy
import fcntl
import json
import os
import struct
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.errors import DecryptionError, KeyringConfigurationError, KeyringError
from crypto.keyrings.base import DESTROYED, ENABLED, SETTABLE_STATES, KekVersion, Keyring

FILE_FORMAT = "groupie-local-keyring/1"
_WRAP_HEADER = struct.Struct(">I")
_NONCE_BYTES = 12
_AAD_PREFIX = b"groupie/local-keyring/v1|"


class LocalKeyring(Keyring):
    def __init__(self, *, path: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None
        self._stamp: tuple[int, int, int] | None = None

    # -- the file ---------------------------------------------------------------------------

    @classmethod
    def create_file(cls, path: str | Path) -> bool:
        """Creates a keyring with one KEK version; returns False if the file already exists."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"format": FILE_FORMAT, "primary": 1, "versions": [_new_version(1)]}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def create(self) -> str:
        if self.create_file(self.path):
            return f"Created keyring {self.path} (mode 0600, KEK version 1)."
        return (
            f"Keyring {self.path} already exists ({len(self.versions())} KEK version(s), "
            f"primary {self.primary_version()})."
        )

    def _load(self, *, refresh: bool = False) -> dict[str, Any]:
        # Another process (rotate_kek) may have changed the file: a stat per call is cheap next
        # to the calls themselves, which the chat-key cache already makes rare.
        try:
            status = self.path.stat()
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if self._state is None or refresh or stamp != self._stamp:
                self._state = self._read()
                self._stamp = stamp
            return self._state

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise KeyringConfigurationError(
                f"local keyring {self.path} does not exist; create it with "
                "`python manage.py init_keyring` (make setup does)"
            ) from None
        except OSError as exc:
            raise KeyringError(f"local keyring {self.path} cannot be read: {exc}") from exc
        try:
            return _validated(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # The exception text could quote key material: only its kind is reported.
            raise KeyringConfigurationError(
                f"local keyring {self.path} is malformed ({type(exc).__name__})"
            ) from None

    def _write(self, state: dict[str, Any]) -> None:
        clean = {
            **state,
            "versions": [{k: v for k, v in e.items() if k != "_key"} for e in state["versions"]],
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        # A leftover temporary file could carry looser permissions: never reuse it.
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(clean, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        # The rename itself must survive a power loss, or chat keys wrapped under the new
        # version could outlive the version.
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _version(self, number: int) -> dict[str, Any] | None:
        state = self._load()
        entry = _find(state, number)
        if entry is None:
            # Another process may have rotated since this one read the file.
            entry = _find(self._load(refresh=True), number)
        return entry

    # -- the contract -----------------------------------------------------------------------

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[bytes, str]:
        state = self._load()
        primary = int(state["primary"])
        entry = _find(state, primary)
        if entry is None or entry["state"] != ENABLED:
            raise KeyringConfigurationError("the primary KEK version is not enabled")
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(entry["_key"]).encrypt(nonce, plaintext, _AAD_PREFIX + aad)
        return _WRAP_HEADER.pack(primary) + nonce + ciphertext, str(primary)

    def unwrap(self, wrapped: bytes, aad: bytes) -> tuple[bytes, bool]:
        if len(wrapped) < _WRAP_HEADER.size + _NONCE_BYTES + 16:
            raise DecryptionError("wrapped key is truncated")
        (number,) = _WRAP_HEADER.unpack_from(wrapped)
        entry = self._version(number)
        if entry is None:
            raise DecryptionError(f"KEK version {number} is not in the keyring")
        if entry["state"] != ENABLED:
            raise DecryptionError(f"KEK version {number} is {entry['state']}")
        minimum = int(self._load().get("min_decryption_version", 1))
        if number < minimum:
            raise DecryptionError(
                f"KEK version {number} is below the minimum decryption version {minimum}"
            )
        nonce = wrapped[_WRAP_HEADER.size : _WRAP_HEADER.size + _NONCE_BYTES]
        try:
            plaintext = AESGCM(entry["_key"]).decrypt(
                nonce, wrapped[_WRAP_HEADER.size + _NONCE_BYTES :], _AAD_PREFIX + aad
            )
        except InvalidTag:
            raise DecryptionError("wrapped key failed authentication") from None
        return plaintext, number == int(self._load()["primary"])

    def rotate(self) -> str:
        def add_version(state: dict[str, Any]) -> str:
            number = max(int(e["version"]) for e in state["versions"]) + 1
            state["versions"].append(_new_version(number))
            state["primary"] = number
            return str(number)

        return self._update(add_version)

    def primary_version(self) -> str:
        return str(self._load()["primary"])

    def versions(self) -> list[KekVersion]:
        state = self._load(refresh=True)
        primary = int(state["primary"])
        minimum = int(state.get("min_decryption_version", 1))
        return [
            KekVersion(
                version=str(e["version"]),
                state=e["state"],
                primary=int(e["version"]) == primary,
                created_at=datetime.fromisoformat(e["created_at"]) if "created_at" in e else None,
                below_minimum=int(e["version"]) < minimum,
            )
            for e in state["versions"]
        ]

    def set_state(self, version: str, state: str) -> KekVersion:
        if state not in SETTABLE_STATES:
            raise ValueError(f"a KEK version's state is one of {', '.join(SETTABLE_STATES)}")
        number = _number(version)

        def change(keyring: dict[str, Any]) -> None:
            entry = _find(keyring, number)
            if entry is None:
                raise KeyringConfigurationError(f"the keyring has no KEK version {version}")
            if number == int(keyring["primary"]) and state != ENABLED:
                raise KeyringConfigurationError(
                    f"KEK version {number} is the primary version: rotate_kek first"
                )
            if entry["state"] == DESTROYED and state != DESTROYED:
                raise KeyringConfigurationError(f"KEK version {number} is destroyed for good")
            entry["state"] = state
            if state == DESTROYED:
                entry["key"] = None  # the key material leaves the file

        self._update(change)
        return self.version_of(str(number))

    def set_min_decryption_version(self, version: str) -> list[KekVersion]:
        number = _number(version)

        def change(keyring: dict[str, Any]) -> list[str]:
            if _find(keyring, number) is None:
                raise KeyringConfigurationError(f"the keyring has no KEK version {version}")
            if number > int(keyring["primary"]):
                raise KeyringConfigurationError(
                    "the minimum decryption version cannot be newer than the primary version"
                )
            before = int(keyring.get("min_decryption_version", 1))
            keyring["min_decryption_version"] = number
            return [
                str(e["version"])
                for e in keyring["versions"]
                if before <= int(e["version"]) < number and e["state"] == ENABLED
            ]

        stopped = self._update(change)
        return [v for v in self.versions() if v.version in stopped]

    # -- the log's signing key ----------------------------------------------------------------

    def _signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key that signs checkpoints: kept in the file beside the KEKs (so 0600,
        written the same way), created on first use under the file lock."""
        entry = self._load().get("signing_key")
        if entry is None:

            def add_key(state: dict[str, Any]) -> None:
                if state.get("signing_key") is None:
                    raw = Ed25519PrivateKey.generate().private_bytes_raw()
                    state["signing_key"] = {
                        "algorithm": "ed25519",
                        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "key": base64.b64encode(raw).decode("ascii"),
                    }

            self._update(add_key)
            entry = self._load()["signing_key"]
        try:
            raw = base64.b64decode(entry["key"], validate=True)
            return Ed25519PrivateKey.from_private_bytes(raw)
        except (ValueError, KeyError, TypeError):
            raise KeyringConfigurationError(
                f"local keyring {self.path} has a malformed signing key"
            ) from None

    def signing_public_key(self) -> bytes:
        return self._signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self._signing_key().sign(message)

    def _update(self, change: Any) -> Any:
        """Applies ``change`` to a copy of the file's state and saves it, under the file lock."""
        with _file_lock(self.path):
            # Work on a copy: if the write fails, this process must not go on using a state
            # (a KEK version, say) that was never saved.
            state = copy.deepcopy(self._load(refresh=True))
            result = change(state)
            self._write(state)
            self._load(refresh=True)
        return result


def _number(version: str) -> int:
    try:
        return int(version)
    except ValueError:
        raise KeyringConfigurationError(f"KEK versions are numbers, not {version!r}") from None


def _validated(state: Any) -> dict[str, Any]:
    """The parsed file, with each version's key decoded; raises ValueError/KeyError/TypeError."""
    if not isinstance(state, dict) or state.get("format") != FILE_FORMAT:
        raise ValueError("unknown format")
    numbers = set()
    for entry in state["versions"]:
        if entry["state"] not in SETTABLE_STATES:
            raise ValueError("unknown KEK version state")
        if entry["state"] == DESTROYED:
            entry["_key"] = None
        else:
            entry["_key"] = base64.b64decode(entry["key"], validate=True)
            if len(entry["_key"]) != 32:
                raise ValueError("a KEK is 32 bytes")
        numbers.add(int(entry["version"]))
    if int(state["primary"]) not in numbers:
        raise ValueError("the primary KEK version is not in the file")
    if not 1 <= int(state.get("min_decryption_version", 1)) <= int(state["primary"]):
        raise ValueError("the minimum decryption version must be between 1 and the primary")
    return state


def _new_version(number: int) -> dict[str, Any]:
    return {
        "version": number,
        "state": "enabled",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "key": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii"),
    }


def _find(state: dict[str, Any], number: int) -> dict[str, Any] | None:
    return next((e for e in state["versions"] if int(e["version"]) == number), None)


class _file_lock:
    """An exclusive advisory lock beside the keyring file, so two rotations cannot interleave."""

    def __init__(self, path: Path) -> None:
        self.lock_path = path.with_name(path.name + ".lock")
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
