"""A directory of blobs (``var/media`` by default): one box, the default.

A blob is written to a temporary file beside its place, flushed to disk, and linked into its
place when whole (``link`` fails if the name exists, where a rename would replace it: another
archive's file, or another writer's), so a reader never sees half a file, nothing is ever
overwritten, and a crash leaves only a ``.part`` file (ignored by listings). Files are 0600 and
directories 0700: the bytes are sealed, but their names and sizes are the archive's metadata.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from messages.media.blobs.base import BlobExists, BlobMissing, BlobStore, BlobStoreError

PART = ".part"


class LocalBlobStore(BlobStore):
    def __init__(self, path: str) -> None:
        self.root = Path(path)

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or name.endswith(PART):
            raise ValueError(f"not a blob name: {name!r}")
        return self.root.joinpath(*parts)

    @contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        path = self._path(name)
        try:
            self._directory(path.parent)
            if path.exists():  # early, to spare the copy; the link below is what decides
                raise BlobExists(f"blob {name} exists")
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=PART)
        except OSError as exc:
            raise BlobStoreError(f"media store {self.root}: {exc.strerror}") from None
        try:
            with os.fdopen(handle, "wb") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
            try:
                os.link(temporary, path)  # atomic, and never replaces: EEXIST if taken
            except FileExistsError:
                raise BlobExists(f"blob {name} exists") from None
            except OSError as exc:
                raise BlobStoreError(f"media store {self.root}: {exc.strerror}") from None
            _sync_directory(path.parent)  # the new link itself survives a crash
        finally:
            Path(temporary).unlink(missing_ok=True)

    def _directory(self, directory: Path) -> None:
        """Makes ``directory`` and any missing parent 0700 (mkdir's parents=True would give
        the parents the umask's mode)."""
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for each in reversed(missing):
            each.mkdir(mode=0o700, exist_ok=True)

    @contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        try:
            stream = self._path(name).open("rb")
        except FileNotFoundError:
            raise BlobMissing(f"no blob {name}") from None
        except OSError as exc:
            raise BlobStoreError(f"media store {self.root}: {exc.strerror}") from None
        with stream:
            yield stream

    def size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise BlobMissing(f"no blob {name}") from None

    def names(self, prefix: str) -> Iterator[str]:
        # Walk only the deepest directory the prefix names, not the whole store.
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        for directory, _, files in os.walk(start):
            for file in files:
                if file.endswith(PART):
                    continue
                name = Path(directory, file).relative_to(self.root).as_posix()
                if name.startswith(prefix):
                    yield name

    def delete(self, names: Iterable[str]) -> int:
        deleted = 0
        for name in names:
            try:
                self._path(name).unlink()
                deleted += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BlobStoreError(f"media store {self.root}: {exc.strerror}") from None
        return deleted


def _sync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
