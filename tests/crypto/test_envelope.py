"""The sealed-record format: it opens only where, and with the key, it was sealed for."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import envelope
from crypto.envelope import (
    FORMAT_VERSION,
    NONCE_BYTES,
    SALT_BYTES,
    TAG_BYTES,
    Identity,
    key_version_of,
    open_envelope,
    seal,
)
from crypto.errors import CryptoError, DecryptionError, EnvelopeFormatError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
HERE = Identity(chat_id=-1001234567890123, message_id=4127, revision=0)
HEADER_BYTES = 1 + 4
OVERHEAD = HEADER_BYTES + SALT_BYTES + NONCE_BYTES + TAG_BYTES


def sealed(plaintext: bytes = b"release checklist", *, version: int = 1) -> bytes:
    return seal(KEY, version, HERE, plaintext)


def test_it_opens_what_it_sealed() -> None:
    assert open_envelope(KEY, HERE, sealed(b"hello, group")) == b"hello, group"


def test_it_round_trips_an_empty_plaintext() -> None:
    box = sealed(b"")
    assert len(box) == OVERHEAD
    assert open_envelope(KEY, HERE, box) == b""


def test_it_round_trips_a_mebibyte() -> None:
    plaintext = os.urandom(1024 * 1024)
    box = sealed(plaintext)
    assert len(box) == len(plaintext) + OVERHEAD
    assert open_envelope(KEY, HERE, box) == plaintext


def test_it_writes_the_layout_it_documents() -> None:
    box = sealed(b"x", version=0x01020304)
    assert box[0] == FORMAT_VERSION
    assert box[1:5] == bytes([1, 2, 3, 4])
    assert len(box) == OVERHEAD + 1


def test_the_ciphertext_does_not_contain_the_plaintext() -> None:
    plaintext = b"ZEBRA-MARKER-7Q " * 8
    assert b"ZEBRA-MARKER-7Q" not in sealed(plaintext)


def test_every_envelope_of_the_same_plaintext_differs() -> None:
    boxes = [sealed(b"same words") for _ in range(50)]
    assert len(set(boxes)) == len(boxes)
    salts = {b[HEADER_BYTES : HEADER_BYTES + SALT_BYTES] for b in boxes}
    nonces = {b[HEADER_BYTES + SALT_BYTES : HEADER_BYTES + SALT_BYTES + NONCE_BYTES] for b in boxes}
    assert len(salts) == len(boxes)
    assert len(nonces) == len(boxes)


@pytest.mark.parametrize("region", ["header", "salt", "nonce", "ciphertext", "tag"])
def test_tampering_any_single_byte_never_returns_bytes(region: str) -> None:
    box = sealed(b"pay 10 EUR to Priya")
    bounds = {
        "header": (0, HEADER_BYTES),
        "salt": (HEADER_BYTES, HEADER_BYTES + SALT_BYTES),
        "nonce": (HEADER_BYTES + SALT_BYTES, HEADER_BYTES + SALT_BYTES + NONCE_BYTES),
        "ciphertext": (HEADER_BYTES + SALT_BYTES + NONCE_BYTES, len(box) - TAG_BYTES),
        "tag": (len(box) - TAG_BYTES, len(box)),
    }
    start, end = bounds[region]
    assert end > start
    for index in range(start, end):
        for flip in (0x01, 0x80, 0xFF):
            tampered = bytearray(box)
            tampered[index] ^= flip
            with pytest.raises((EnvelopeFormatError, DecryptionError)):
                open_envelope(KEY, HERE, bytes(tampered))


def test_changing_the_format_version_byte_is_a_format_error() -> None:
    box = bytearray(sealed())
    box[0] = FORMAT_VERSION + 1
    with pytest.raises(EnvelopeFormatError, match="format version"):
        open_envelope(KEY, HERE, bytes(box))


def test_changing_the_key_version_in_the_header_fails_authentication() -> None:
    box = bytearray(sealed(version=1))
    box[1:5] = (2).to_bytes(4, "big")
    assert key_version_of(bytes(box)) == 2
    with pytest.raises(DecryptionError):
        open_envelope(KEY, HERE, bytes(box))


@pytest.mark.parametrize(
    "elsewhere",
    [
        Identity(chat_id=HERE.chat_id, message_id=HERE.message_id + 1),
        Identity(chat_id=HERE.chat_id - 1, message_id=HERE.message_id),
        Identity(chat_id=-HERE.chat_id, message_id=HERE.message_id),
        Identity(chat_id=HERE.chat_id, message_id=HERE.message_id, revision=1773483619),
        Identity(chat_id=HERE.chat_id, message_id=HERE.message_id, purpose="chat-title"),
    ],
    ids=["another-message", "another-chat", "mirrored-chat", "another-revision", "another-purpose"],
)
def test_it_rejects_an_envelope_moved_to_another_record(elsewhere: Identity) -> None:
    box = sealed(b"only for 4127")
    with pytest.raises(DecryptionError):
        open_envelope(KEY, elsewhere, box)


def test_it_rejects_an_edit_opened_as_the_original_revision() -> None:
    edit = Identity(chat_id=HERE.chat_id, message_id=HERE.message_id, revision=1773483619)
    box = seal(KEY, 1, edit, b"updated text")
    assert open_envelope(KEY, edit, box) == b"updated text"
    with pytest.raises(DecryptionError):
        open_envelope(KEY, HERE, box)


def test_it_rejects_another_chat_key() -> None:
    with pytest.raises(DecryptionError):
        open_envelope(OTHER_KEY, HERE, sealed())


def test_the_decryption_error_does_not_quote_the_plaintext_or_key() -> None:
    box = sealed(b"ZEBRA-MARKER-7Q")
    with pytest.raises(DecryptionError) as caught:
        open_envelope(OTHER_KEY, HERE, box)
    message = str(caught.value)
    assert "ZEBRA" not in message
    assert KEY.hex() not in message
    assert OTHER_KEY.hex() not in message


@pytest.mark.parametrize("length", [0, 1, 4, HEADER_BYTES, OVERHEAD - 1])
def test_it_rejects_a_truncated_envelope_as_a_format_error(length: int) -> None:
    box = sealed(b"")[:length]
    with pytest.raises(EnvelopeFormatError, match="truncated"):
        open_envelope(KEY, HERE, box)
    with pytest.raises(EnvelopeFormatError):
        key_version_of(box)


def test_a_body_cut_short_is_not_opened() -> None:
    box = sealed(b"a longer message that gets cut")
    for cut in range(1, len(box) - OVERHEAD + 1):
        with pytest.raises((EnvelopeFormatError, DecryptionError)):
            open_envelope(KEY, HERE, box[:-cut])


@pytest.mark.parametrize("version", [0, 2, 0x7F, 0xFF])
def test_it_rejects_an_unknown_format_version(version: int) -> None:
    box = bytearray(sealed())
    box[0] = version
    with pytest.raises(EnvelopeFormatError, match="format version"):
        key_version_of(bytes(box))
    with pytest.raises(EnvelopeFormatError):
        open_envelope(KEY, HERE, bytes(box))


@pytest.mark.parametrize("version", [1, 2, 255, 65536, 2**32 - 1])
def test_key_version_of_reads_the_version_it_was_sealed_under(version: int) -> None:
    assert key_version_of(sealed(version=version)) == version


def test_key_version_of_rejects_version_zero() -> None:
    box = bytearray(sealed())
    box[1:5] = bytes(4)
    with pytest.raises(EnvelopeFormatError, match="version 0"):
        key_version_of(bytes(box))


@pytest.mark.parametrize("version", [0, -1, 2**32])
def test_it_refuses_to_seal_under_an_out_of_range_key_version(version: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        seal(KEY, version, HERE, b"x")


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_it_refuses_a_chat_key_that_is_not_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"k" * length, 1, HERE, b"x")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_typed_errors(data: bytes) -> None:
    with pytest.raises(CryptoError):
        open_envelope(KEY, HERE, data)


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(min_size=0, max_size=64),
    version=st.integers(min_value=0, max_value=2**32 - 1),
    format_version=st.sampled_from([FORMAT_VERSION, 0, 2, 255]),
)
def test_well_shaped_forgeries_only_ever_raise_typed_errors(
    body: bytes, version: int, format_version: int
) -> None:
    forged = bytes([format_version]) + version.to_bytes(4, "big") + os.urandom(28) + body
    with pytest.raises((EnvelopeFormatError, DecryptionError)):
        open_envelope(KEY, HERE, forged)


@settings(max_examples=200, deadline=None)
@given(
    plaintext=st.binary(max_size=512),
    chat_id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    message_id=st.integers(min_value=1, max_value=2**63 - 1),
    revision=st.integers(min_value=0, max_value=2**40),
    version=st.integers(min_value=1, max_value=2**32 - 1),
)
def test_it_round_trips_any_plaintext_at_any_place(
    plaintext: bytes, chat_id: int, message_id: int, revision: int, version: int
) -> None:
    identity = Identity(chat_id=chat_id, message_id=message_id, revision=revision)
    box = seal(KEY, version, identity, plaintext)
    assert key_version_of(box) == version
    assert open_envelope(KEY, identity, box) == plaintext


def test_associated_data_differs_for_each_part_of_the_identity() -> None:
    base = envelope.associated_data(HERE, 1)
    variants = [
        envelope.associated_data(Identity(HERE.chat_id + 1, HERE.message_id), 1),
        envelope.associated_data(Identity(HERE.chat_id, HERE.message_id + 1), 1),
        envelope.associated_data(Identity(HERE.chat_id, HERE.message_id, revision=1), 1),
        envelope.associated_data(Identity(HERE.chat_id, HERE.message_id, purpose="title"), 1),
        envelope.associated_data(HERE, 2),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)
