"""A chat shredded while its members keep writing starts again under exactly one new key.

The adversarial probe's N2: ``shred_chat --yes`` while 8 writers posted to the chat left key
versions 2 and 3 both active, and verify_archive failing. Here, as in production, the writers
are worker processes of their own (a web server runs several, each with threads) and the
shred is a process of its own: every process has its own key cache and creation locks, so only
the store (which adds each version once) and the numbering of versions can keep two of them
from each starting a chat afresh. Eight chats are shredded in turn, each restart a chance for
the writers to race. Each process is tests/scripts/shred_under_traffic.py, on a SQLite file,
on PostgreSQL (its pass of the suite) and on Firestore's emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import ROOT, archive_environment

SCRIPT = ROOT / "tests" / "scripts" / "shred_under_traffic.py"
PROCESSES, THREADS = 4, 2  # 8 writers, as in the probe
TIMEOUT = 120.0


def _environment(directory: Path, **extra: str) -> dict[str, str]:
    return archive_environment(
        directory, GROUPIE_KEYRING="local", GROUPIE_LOG_LEVEL="ERROR", **extra
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the suite's PostgreSQL server, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("the PostgreSQL pass of the suite runs this (DATABASE_URL=postgres://…)")
    import psycopg

    server, _, name = url.rpartition("/")
    name = f"{name}_shred_race"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres", "firestore"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "postgres":
        return _environment(tmp_path, DATABASE_URL=request.getfixturevalue("postgres_url"))
    if request.param == "firestore":
        return _environment(
            tmp_path,
            GROUPIE_STORE="firestore",
            GCP_PROJECT_ID=request.getfixturevalue("firestore_project"),
            FIRESTORE_EMULATOR_HOST=request.getfixturevalue("firestore_emulator"),
            # Each shred there waits out the key lease (3 s here); its slower reads make the
            # race as likely with fewer chats.
            SHRED_CHATS="3",
        )
    return _environment(tmp_path, GROUPIE_STORE="orm")


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> Any:
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _run(env: dict[str, str], *args: str) -> Any:
    return _result(_start(env, *args))


def test_a_chat_shredded_under_traffic_restarts_with_exactly_one_key(
    env: dict[str, str], tmp_path: Path
) -> None:
    _run(env, "setup")
    stop = tmp_path / "stop"
    writers = [
        _start(env, "write", str(stop), str(THREADS), str(1_000_000 * (n + 1)))
        for n in range(PROCESSES)
    ]
    try:
        time.sleep(2.0)  # the writers are up and writing under version 1
        shredded = _run(env, "shred")
        time.sleep(1.0)  # and go on writing once the chats are gone: they start afresh
    finally:
        stop.touch()
    outcomes = sum((Counter(_result(w)["outcomes"]) for w in writers), Counter())
    assert all("messages deleted" in line for line in shredded["summaries"]), shredded
    assert outcomes["created"] > 0, outcomes
    assert not {o for o in outcomes if o != "created" and not o.startswith("refused")}, outcomes

    verified = _run(env, "verify")
    for chat_id, keys in verified["keys"].items():
        states = [state for _, state in keys]
        # Started afresh once, under one new key, whatever the writers did meanwhile.
        assert states.count("active") == 1, (chat_id, keys)
        assert states[-1] == "active", (chat_id, keys)
        assert set(states[:-1]) == {"destroyed"}, (chat_id, keys)
    assert verified["failures"] == [], verified["summary"]
