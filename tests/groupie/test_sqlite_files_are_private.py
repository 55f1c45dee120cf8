"""The SQLite database and its -wal and -shm files are owner-only, new or existing."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from groupie.sqlite3.base import DatabaseWrapper


def _open(path: Path) -> Any:
    """A raw connection opened the way the backend opens one (pytest-django guards the
    wrapper's own connect), with a write so that -wal and -shm exist."""
    config = {
        **connections.settings["default"],
        "ENGINE": "groupie.sqlite3",
        "NAME": str(path),
        "OPTIONS": {},
        "TEST": {},
    }
    wrapper = DatabaseWrapper(config, alias="private-test")
    raw = wrapper.get_new_connection(wrapper.get_connection_params())
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    raw.execute("INSERT INTO t VALUES (1)")
    raw.commit()
    return raw


def _modes(path: Path) -> dict[str, int]:
    return {
        f.name: stat.S_IMODE(f.stat().st_mode)
        for f in sorted(path.parent.iterdir())
        if f.name.startswith(path.name)
    }


def test_the_default_sqlite_engine_is_the_private_one() -> None:
    if "sqlite" in settings.DATABASES["default"]["ENGINE"]:
        assert settings.DATABASES["default"]["ENGINE"] == "groupie.sqlite3"


def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "groupie.db"
    wrapper = _open(path)
    try:
        modes = _modes(path)
    finally:
        wrapper.close()
    assert set(modes) == {"groupie.db", "groupie.db-shm", "groupie.db-wal"}
    assert set(modes.values()) == {0o600}


def test_an_existing_world_readable_database_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "groupie.db"
    _open(path).close()
    for name in ("groupie.db", "groupie.db-wal", "groupie.db-shm"):
        if (tmp_path / name).exists():
            (tmp_path / name).chmod(0o644)
    wrapper = _open(path.with_name("groupie.db"))
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        wrapper.close()
