"""crypto/media.py: Tink's streaming AEAD under a chat key, bound to its place, streamed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crypto import media
from crypto.errors import DecryptionError, EnvelopeFormatError
from crypto.media import MediaIdentity
from tests import ROOT

KEY = bytes(range(32))
PLACE = MediaIdentity(chat_id=-1001234567890123, message_id=4131, file_unique_id="AQAD5Ynp0DFLAANX")


def sealed(
    data: bytes, *, key: bytes = KEY, version: int = 3, place: MediaIdentity = PLACE
) -> bytes:
    out = io.BytesIO()
    chunks = (data[i : i + 10_000] for i in range(0, len(data), 10_000))
    assert media.seal_stream(key, version, place, chunks, out) == len(data)
    return out.getvalue()


def opened(blob: bytes, *, key: bytes = KEY, place: MediaIdentity = PLACE) -> bytes:
    source = io.BytesIO(blob)
    version = media.read_header(source)
    return b"".join(media.open_stream(key, version, place, source))


@pytest.mark.parametrize(
    "size", [0, 1, media.SEGMENT_BYTES - 100, media.SEGMENT_BYTES, 3 * media.SEGMENT_BYTES + 7]
)
def test_it_opens_what_it_sealed_at_every_size(size: int) -> None:
    data = os.urandom(size)
    blob = sealed(data)
    assert blob.startswith(b"GRPM\x01\x00\x00\x00\x03")
    assert opened(blob) == data


def test_no_plaintext_reaches_the_sealed_bytes() -> None:
    data = b"ZEBRA-MARKER-7Q " * 5000
    blob = sealed(data)
    assert b"ZEBRA" not in blob
    assert len(blob) < len(data) + 1024  # the overhead is a header and a tag per segment


@pytest.mark.parametrize(
    "elsewhere",
    [
        MediaIdentity(PLACE.chat_id, PLACE.message_id + 1, PLACE.file_unique_id),
        MediaIdentity(PLACE.chat_id - 1, PLACE.message_id, PLACE.file_unique_id),
        MediaIdentity(PLACE.chat_id, PLACE.message_id, "AQAD5Ynp0DFLAANY"),
    ],
)
def test_a_blob_moved_to_another_place_does_not_open(elsewhere: MediaIdentity) -> None:
    with pytest.raises(DecryptionError, match="failed authentication"):
        opened(sealed(b"x" * 1000), place=elsewhere)


def test_another_chat_key_does_not_open_it() -> None:
    with pytest.raises(DecryptionError):
        opened(sealed(b"x" * 1000), key=bytes(32))


def test_a_changed_version_in_the_header_does_not_open_it() -> None:
    blob = bytearray(sealed(b"x" * 1000))
    blob[8] = 4  # the header now names chat-key version 4: the associated data differs
    with pytest.raises(DecryptionError):
        opened(bytes(blob))


def test_an_altered_segment_fails_at_that_segment_after_the_good_ones() -> None:
    data = os.urandom(3 * media.SEGMENT_BYTES)
    blob = bytearray(sealed(data))
    blob[-media.SEGMENT_BYTES // 2] ^= 1  # inside the last segment
    source = io.BytesIO(bytes(blob))
    stream = media.open_stream(KEY, media.read_header(source), PLACE, source)
    good = next(stream)
    assert good == data[: len(good)]
    with pytest.raises(DecryptionError):
        b"".join(stream)


def test_a_truncated_blob_does_not_open() -> None:
    blob = sealed(os.urandom(2 * media.SEGMENT_BYTES))
    with pytest.raises(DecryptionError):
        opened(blob[: -media.SEGMENT_BYTES])  # whole segments cut off: the end is missing


@pytest.mark.parametrize(
    ("blob", "said"),
    [
        (b"GRP", "truncated"),
        (b"JFIF\x01\x00\x00\x00\x01rest", "not a sealed media file"),
        (b"GRPM\x02\x00\x00\x00\x01rest", "format version 2"),
        (b"GRPM\x01\x00\x00\x00\x00rest", "version 0"),
    ],
)
def test_bytes_that_are_not_a_sealed_file_say_so(blob: bytes, said: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=said):
        media.read_header(io.BytesIO(blob))


def test_a_failing_source_of_bytes_propagates() -> None:
    def broken() -> object:
        yield b"x" * 100
        raise ConnectionError("the download broke")

    with pytest.raises(ConnectionError):
        media.seal_stream(KEY, 1, PLACE, broken(), io.BytesIO())  # type: ignore[arg-type]


MEMORY_PROBE = """
import os, resource, sys
sys.path.insert(0, sys.argv[1])
from crypto import media
place = media.MediaIdentity(-1, 1, "u")
class Sink:
    def write(self, data): return len(data)
def chunks():
    block = os.urandom(1 << 20)
    for _ in range(int(sys.argv[2])):
        yield block
path = sys.argv[3]
if sys.argv[4] == "open":
    with open(path, "wb") as out:
        media.seal_stream(bytes(32), 1, place, chunks(), out)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[4] == "seal":
    media.seal_stream(bytes(32), 1, place, chunks(), Sink())
else:
    with open(path, "rb") as source:
        version = media.read_header(source)
        size = sum(len(c) for c in media.open_stream(bytes(32), version, place, source))
    assert size == int(sys.argv[2]) << 20
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.parametrize("mode", ["seal", "open"])
def test_sealing_and_opening_hold_a_segment_not_the_file(mode: str, tmp_path: Path) -> None:
    """Peak memory while sealing (or opening) 256 MiB, in a process of its own: it grows by
    a few segments' worth at most, far below the file's size (a sink that kept the bytes
    grows it by about 250 MiB)."""
    root = str(ROOT)
    blob = str(tmp_path / "blob")
    grown_kib = int(
        subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, root, "256", blob, mode],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert grown_kib < 32 * 1024, f"{mode} of 256 MiB grew the process by {grown_kib} KiB"


def test_a_source_that_fails_part_way_is_that_failure_not_a_forgery() -> None:
    blob = sealed(os.urandom(3 * media.SEGMENT_BYTES))

    class Flaky(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > media.SEGMENT_BYTES:
                raise TimeoutError("the media store stopped answering")
            return super().read(size)

    source = Flaky(blob)
    stream = media.open_stream(KEY, media.read_header(source), PLACE, source)
    with pytest.raises(TimeoutError, match="stopped answering"):
        b"".join(stream)
