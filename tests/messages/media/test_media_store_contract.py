"""One contract for every media store: the local directory and Cloud Storage (on the emulator,
through the real google-cloud-storage client)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from messages.media.blobs import get_blob_store
from messages.media.blobs.base import (
    BlobExists,
    BlobMissing,
    BlobStore,
    blob_name,
    chat_prefix,
)

A = "0123456789abcdef0123456789abcdef"  # an archive id


@pytest.fixture(params=["local", "gcs"])
def blobs(request: pytest.FixtureRequest) -> BlobStore:
    if request.param == "gcs":
        request.getfixturevalue("gcs_bucket")
    return get_blob_store()


def write(blobs: BlobStore, name: str, data: bytes, piece: int = 100_000) -> None:
    with blobs.writer(name) as stream:
        for start in range(0, len(data), piece):
            stream.write(data[start : start + piece])


def read(blobs: BlobStore, name: str, piece: int = 65_536) -> bytes:
    with blobs.reader(name) as stream:
        return b"".join(iter(lambda: stream.read(piece), b""))


def test_a_blob_reads_back_as_written_in_pieces(blobs: BlobStore) -> None:
    data = os.urandom(9 * 1024 * 1024 + 17)  # more than one GCS upload chunk
    name = blob_name(A, -1001, 7, "AQADxyz", 1)
    write(blobs, name, data)
    assert blobs.size(name) == len(data)
    assert read(blobs, name) == data


def test_a_write_that_fails_leaves_nothing(blobs: BlobStore) -> None:
    name = blob_name(A, -1001, 8, "AQADxyz", 1)

    def interrupted() -> None:
        with blobs.writer(name) as stream:
            stream.write(b"half a file")
            raise ConnectionError("the download broke")

    with pytest.raises(ConnectionError):
        interrupted()
    assert list(blobs.names(chat_prefix(A, -1001))) == []
    with pytest.raises(BlobMissing):
        read(blobs, name)


def test_names_deletion_and_a_chat_prefix(blobs: BlobStore) -> None:
    mine = [blob_name(A, -1001, m, "AQAD", 1) for m in (1, 2, 3)]
    other = blob_name(A, -10011, 1, "AQAD", 1)  # a chat id that starts like the first
    for name in [*mine, other]:
        write(blobs, name, b"sealed")
    assert sorted(blobs.names(chat_prefix(A, -1001))) == sorted(mine)
    missing = f"{chat_prefix(A, -1001)}99/gone.1"
    assert blobs.delete([mine[0], missing]) == 1  # a missing one is not an error
    assert blobs.delete_prefix(chat_prefix(A, -1001)) == 2
    assert list(blobs.names(chat_prefix(A, -1001))) == []
    assert list(blobs.names(chat_prefix(A, -10011))) == [other]


def test_a_missing_blob_is_blob_missing(blobs: BlobStore) -> None:
    with pytest.raises(BlobMissing):
        read(blobs, "chats/-1/1/none.1")
    with pytest.raises(BlobMissing):
        blobs.size("chats/-1/1/none.1")


def test_a_blob_is_never_replaced(blobs: BlobStore) -> None:
    name = blob_name(A, -1001, 9, "AQAD", 2)
    write(blobs, name, b"first")
    with pytest.raises(BlobExists):
        write(blobs, name, b"second, longer")
    with pytest.raises(BlobExists):  # also when the file is sent in several pieces
        write(blobs, name, os.urandom(9 * 1024 * 1024), piece=3 * 1024 * 1024)
    assert read(blobs, name) == b"first"
    assert list(blobs.names(chat_prefix(A, -1001))) == [name]  # nothing left beside it


def test_an_object_made_meanwhile_is_not_replaced(blobs: BlobStore) -> None:
    """Another archive (or writer) creates the name while this write is under way: the
    write fails at its end and the other's object stays."""
    name = blob_name(A, -1001, 10, "AQAD", 1)

    def racing() -> None:
        with blobs.writer(name) as stream:
            stream.write(b"mine, part one ")
            write(blobs, name, b"theirs")
            stream.write(b"part two")

    with pytest.raises(BlobExists):
        racing()
    assert read(blobs, name) == b"theirs"
    assert list(blobs.names(chat_prefix(A, -1001))) == [name]


def test_local_files_are_private_and_names_cannot_escape(media_path: Any) -> None:
    blobs = get_blob_store()
    write(blobs, blob_name(A, -5, 1, "u", 1), b"sealed")
    path = media_path / "archives" / A / "chats" / "-5" / "1" / "u.1"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (media_path / "archives").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["u.1"]  # no temporary file left
    for bad in ("../outside", "chats/../../x", "/etc/passwd", "chats//x", "x.part"):
        with pytest.raises(ValueError, match="not a blob name"):
            write(blobs, bad, b"x")
