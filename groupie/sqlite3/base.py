"""Django's SQLite backend, except that the database file is owner-only (0600).

SQLite creates a database with the process's umask (usually world-readable 0644) and gives its
-wal and -shm files the database file's mode. The archive holds only sealed records, but ids,
dates and sizes are plain: they are nobody else's business on a shared machine. So the file is
created 0600 before SQLite opens it, and an existing one (and its -wal and -shm) that others
could read is made owner-only.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base

PRIVATE = 0o600


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        path = str(conn_params.get("database", ""))
        if path and path != ":memory:" and not path.startswith("file:"):
            _make_private(Path(path))
        return super().get_new_connection(conn_params)


def _make_private(path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another process may make it first: its mode is fixed below if need be.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        try:
            if stat.S_IMODE(file.stat().st_mode) & 0o077:
                file.chmod(PRIVATE)
        except FileNotFoundError:
            continue
