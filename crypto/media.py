"""Sealed media: a file's bytes encrypted under its chat's key, as a stream. Plain Python.

The construction is Tink's streaming AEAD, AES-256-GCM-HKDF (a maintained format with
authenticated, ordered segments and a detected truncation), not one of our own:

- the Tink key is derived from the chat key with HKDF-SHA256 (info ``groupie/v1/media``), so
  the chat key itself is used by one construction only (the message envelopes);
- Tink derives each file's own AES-256-GCM key from it, with a random 32-byte salt stored in
  the stream's header and the associated data: a per-file key, however many files a chat has;
- the associated data binds the stream to its place (chat, message, Telegram's
  ``file_unique_id``, chat-key version): a blob copied to another message or chat fails to open.

Memory stays bounded by one segment (``SEGMENT_BYTES``) while sealing and while opening.

Layout of a sealed blob::

    magic "GRPM" (4) | format version (1) | chat-key version (4, big-endian) |
    Tink AES-GCM-HKDF stream (header with salt and nonce prefix, then 64 KiB segments)
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import tink  # type: ignore[import-untyped]  # tink ships no type information
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tink import cleartext_keyset_handle, streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2  # type: ignore[import-untyped]

from crypto.errors import DecryptionError, EnvelopeFormatError

MAGIC = b"GRPM"
FORMAT_VERSION = 1
SEGMENT_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
HKDF_INFO = b"groupie/v1/media"
_HEADER = struct.Struct(">4sBI")
HEADER_BYTES = _HEADER.size
_PLACE = struct.Struct(">BqqI")
_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"

streaming_aead.register()


@dataclass(frozen=True)
class MediaIdentity:
    """Where a sealed file belongs: its chat, message and Telegram's ``file_unique_id``."""

    chat_id: int
    message_id: int
    file_unique_id: str


def associated_data(identity: MediaIdentity, key_version: int) -> bytes:
    place = _PLACE.pack(FORMAT_VERSION, identity.chat_id, identity.message_id, key_version)
    return b"groupie|media|" + place + identity.file_unique_id.encode()


def _primitive(chat_key: bytes) -> streaming_aead.StreamingAead:
    if len(chat_key) != 32:
        raise ValueError("a chat key is 32 bytes")
    ikm = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(chat_key)
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0,
        key_value=ikm,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            ciphertext_segment_size=SEGMENT_BYTES,
            derived_key_size=32,
            hkdf_hash_type=common_pb2.SHA256,
        ),
    )
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url=_TYPE_URL,
                    value=key.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    handle = cleartext_keyset_handle.from_keyset(keyset)
    return handle.primitive(streaming_aead.StreamingAead)


class _KeepOpen(io.RawIOBase):
    """Forwards writes to ``target`` but not close(): Tink closes its destination when its
    stream ends, and the blob store, not Tink, decides whether a blob is committed."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.target.write(data)
        return len(data)


class _Source(io.RawIOBase):
    """A readable raw stream over ``source`` as Tink wants it (readinto). A failure to read
    (the store, not the bytes) is kept and raised as itself, not as Tink's authentication
    error, which is all Tink would report of it."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.failure: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self.source.read(len(buffer))
        except Exception as exc:
            self.failure = exc
            raise
        buffer[: len(data)] = data
        return len(data)


def seal_stream(
    chat_key: bytes,
    key_version: int,
    identity: MediaIdentity,
    chunks: Iterable[bytes],
    destination: BinaryIO,
) -> int:
    """Writes ``chunks`` sealed to ``destination`` (left open); returns the plaintext size.

    An exception from ``chunks`` propagates: the caller discards what was written."""
    if not 0 < key_version < 2**32:
        raise ValueError("chat-key version out of range")
    destination.write(_HEADER.pack(MAGIC, FORMAT_VERSION, key_version))
    aad = associated_data(identity, key_version)
    size = 0
    with _primitive(chat_key).new_encrypting_stream(_KeepOpen(destination), aad) as sealed:
        for chunk in chunks:
            sealed.write(chunk)
            size += len(chunk)
    return size


def read_header(source: BinaryIO) -> int:
    """Reads a sealed blob's header; returns its chat-key version. Raises EnvelopeFormatError
    for bytes that are not a sealed blob of this format."""
    header = source.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES:
        raise EnvelopeFormatError("sealed file is truncated")
    magic, format_version, key_version = _HEADER.unpack(header)
    if magic != MAGIC:
        raise EnvelopeFormatError("not a sealed media file")
    if format_version != FORMAT_VERSION:
        raise EnvelopeFormatError(f"unknown media format version {format_version}")
    if key_version == 0:
        raise EnvelopeFormatError("sealed file names chat-key version 0")
    return int(key_version)


def open_stream(
    chat_key: bytes, key_version: int, identity: MediaIdentity, source: BinaryIO
) -> Iterator[bytes]:
    """Yields the plaintext of a sealed blob whose header ``read_header`` has consumed.

    Each segment is authenticated before it is yielded; a tampered, reordered or truncated
    blob raises DecryptionError at the first bad segment (possibly after earlier ones were
    yielded: a streaming reader must treat the error as the end of a failed download)."""
    aad = associated_data(identity, key_version)
    what = f"media of chat {identity.chat_id} message {identity.message_id}"
    reader = _Source(source)
    try:
        with _primitive(chat_key).new_decrypting_stream(reader, aad) as plain:
            while chunk := plain.read(READ_BYTES):
                yield chunk
    except tink.TinkError:
        if reader.failure is not None:
            raise reader.failure from None
        raise DecryptionError(f"{what} failed authentication") from None
