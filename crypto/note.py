"""C2SP signed notes (c2sp.org/signed-note) and transparency-log checkpoints
(c2sp.org/tlog-checkpoint), Ed25519 only. Plain Python and ``cryptography``: an auditor's
copy of ``crypto/`` verifies checkpoints with it.

A checkpoint's text is three lines: the log's origin, the tree size in decimal, the root hash
in standard base64. A signed note is that text (ending in a newline), a blank line, then one
line per signature: an em dash, a space, the key's name, a space, and base64 of the 4-byte
key id followed by the 64-byte signature. Ed25519 signs the text itself.

The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), 0x01 being
the Ed25519 algorithm byte; a verifier key is written ``name+<key id in hex>+<base64 of 0x01
|| public key>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = b"\x01"
DASH = "\u2014"  # the em dash that opens a signature line


class NoteError(ValueError):
    """A note, checkpoint or verifier key that is malformed or not signed by the key given."""


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a key name is non-empty, without spaces or '+'")


def verifier_key(name: str, public_key: bytes) -> str:
    _check_name(name)
    encoded = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> Verifier:
        try:
            name, hex_id, encoded = text.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
            identifier = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error):
            raise NoteError("a verifier key reads name+keyid+base64key") from None
        if raw[:1] != ED25519 or len(raw) != 33:
            raise NoteError("the verifier key is not an Ed25519 key")
        _check_name(name)
        if key_id(name, raw[1:]) != identifier:
            raise NoteError("the verifier key's id does not match its name and key")
        return cls(name, identifier, raw[1:])

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


def signature_line(name: str, public_key: bytes, signature: bytes) -> str:
    encoded = base64.b64encode(key_id(name, public_key) + signature).decode()
    return f"{DASH} {name} {encoded}\n"


def split(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text and its signatures as (name, key id || signature)."""
    text, blank, lines = note.rpartition("\n\n")
    if not blank or not text or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line and signature lines")
    signatures = []
    for line in lines[:-1].split("\n"):
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("a signature line is not base64") from None
        if dash != DASH or not name or len(raw) < 5:
            raise NoteError("a signature line reads '— name base64'")
        signatures.append((name, raw))
    return text + "\n", signatures


def verify(note: str, verifier: Verifier) -> str:
    """The note's text if one of its signatures is ``verifier``'s and holds; NoteError else.
    Signatures by other keys (witnesses' cosignatures, say) are skipped, as the spec says."""
    text, signatures = split(note)
    for name, raw in signatures:
        if name == verifier.name and raw[:4] == verifier.key_id:
            if verifier.verify(text.encode(), raw[4:]):
                return text
            raise NoteError(f"the signature by {name} does not verify")
    raise NoteError(f"the note carries no signature by {verifier.name}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint is an origin, a size and a root hash, one a line")
        origin, size, encoded = lines[:3]
        try:
            root = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("the checkpoint's root hash is not base64") from None
        if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError("the checkpoint's origin or size is malformed")
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size), root)


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """The checkpoint a signed note carries, once ``verifier``'s signature on it holds."""
    return Checkpoint.parse(verify(note, verifier))
