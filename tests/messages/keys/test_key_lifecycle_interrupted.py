"""Killing a key-lifecycle command half way and running it again completes with nothing lost.

Every command here is the real ``manage.py`` command in a process of its own, on a SQLite file
database and a local keyring in a temporary directory, as an operator (or cron) would run it.
The archive is a few thousand messages across a few hundred chats, archived through the real
``messages.services.archive`` by tests/scripts/lifecycle_archive.py; it is built once per module
and copied for each test. Commands are paced with ``--max-rate`` so that they run for several
seconds; the test waits for a progress line on stderr (printed once a run has gone on for
~2 s), SIGKILLs the process and checks in the database that it really stopped half way.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests import ROOT, archive_environment

SCRIPT = ROOT / "tests" / "scripts" / "lifecycle_archive.py"

CHATS, PER_CHAT, BIG = 300, 8, 600  # chat 0 holds BIG messages, the others PER_CHAT each
FIRST_CHAT = -1002000000000000  # tests/scripts/lifecycle_archive.py: chat n is FIRST_CHAT - n
BIG_CHAT, OTHER_CHAT = FIRST_CHAT, FIRST_CHAT - 1
LOCK_HELD = 75
PROGRESS = re.compile(r"^\s+([\d,]+)/([\d,]+) (chat keys|chats|revisions) \(", re.MULTILINE)
TIMEOUT = 120.0  # per command; generous for a loaded CI machine


def _environment(directory: Path) -> dict[str, str]:
    return archive_environment(
        directory, GROUPIE_STORE="orm", GROUPIE_KEYRING="local", GROUPIE_LOG_LEVEL="WARNING"
    )


@dataclass
class Running:
    """A command started in the background, its stderr going to a file the test can poll."""

    process: subprocess.Popen[str]
    stdout: IO[str]
    stderr_path: Path
    stderr_file: IO[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_progress(self, timeout: float = 60.0) -> tuple[int, int]:
        """Waits until the command prints a progress line; returns (done, total) from it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = PROGRESS.search(self.stderr())
            if match:
                return int(match[1].replace(",", "")), int(match[2].replace(",", ""))
            if self.process.poll() is not None:
                self.close()
                pytest.fail(f"the command ended before any progress line:\n{self.stderr()}")
            time.sleep(0.02)
        self.kill()
        pytest.fail(f"no progress line within {timeout} s:\n{self.stderr()}")

    def kill(self) -> None:
        """SIGKILL: no finally block, no lock release, no cleanup of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)  # reaped, so its pid is really gone
        self.close()

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        """Waits for the command to end; returns (exit code, stdout, stderr)."""
        code = self.process.wait(timeout=timeout)
        out = self.stdout.read()
        self.close()
        return code, out, self.stderr()

    def close(self) -> None:
        self.stdout.close()
        self.stderr_file.close()


@dataclass
class Archive:
    directory: Path
    env: dict[str, str]
    started: list[Running] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.directory / "db.sqlite3"

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,  # not a terminal: no prompts, plain progress lines
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.manage(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def start(self, *args: str) -> Running:
        name = f"{args[0]}-{time.monotonic_ns()}.stderr"
        stderr_path = self.directory / name
        stderr_file = stderr_path.open("w", encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # only the summary: small enough never to fill the pipe
            stderr=stderr_file,
            text=True,
        )
        assert process.stdout is not None
        running = Running(process, process.stdout, stderr_path, stderr_file)
        self.started.append(running)
        return running

    def script(self, action: str, *args: str) -> Any:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), action, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db, timeout=30)) as connection:
            return connection.execute(sql, params).fetchall()

    def scalar(self, sql: str, *params: Any) -> Any:
        [(value,)] = self.query(sql, *params)
        return value

    def key_versions(self) -> dict[int, list[tuple[int, str]]]:
        """chat -> [(version, state), ...], oldest first."""
        found: dict[int, list[tuple[int, str]]] = {}
        rows = self.query("SELECT chat_id, version, state FROM archive_chatkey ORDER BY 1, 2")
        for chat_id, version, state in rows:
            found.setdefault(chat_id, []).append((version, state))
        return found

    def identities(self) -> list[tuple[int, int, int]]:
        """Every version: the heads' and the superseded ones' (revision rows)."""
        return self.query(
            "SELECT chat_id, message_id, edit_date FROM archive_messagerevision UNION "
            "SELECT chat_id, message_id, edit_date FROM archive_message ORDER BY 1, 2, 3"
        )

    def lock_holders(self) -> list[tuple[str, int]]:
        return self.query("SELECT command, pid FROM archive_maintenancelock")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive, built once: migrated, keyring created, ~3,800 revisions in 300+ chats."""
    directory = tmp_path_factory.mktemp("lifecycle-template")
    archive = Archive(directory, _environment(directory))
    seen = archive.script("populate", str(CHATS), str(PER_CHAT), str(BIG))
    assert seen["outcomes"]["created"] >= CHATS * PER_CHAT
    assert seen["big_chat"] == BIG_CHAT
    # The populating process was the last connection: SQLite folded the WAL into the file.
    assert not (directory / "db.sqlite3-wal").exists()
    return directory


@pytest.fixture
def archive(template: Path, tmp_path: Path) -> Iterator[Archive]:
    # Not tmp_path/keyring.json: conftest's autouse fixture puts a keyring of its own there.
    directory = tmp_path / "archive"
    directory.mkdir()
    for name in ("db.sqlite3", "keyring.json"):
        shutil.copy2(template / name, directory / name)
    archive = Archive(directory, _environment(directory))
    yield archive
    for running in archive.started:  # a failed test leaves nothing running behind it
        if running.process.poll() is None:
            running.kill()


def said(text: str, count: int, name: str) -> bool:
    """Whether a summary counts ``count`` ``name``, in the plural or (for 1) the singular."""
    words = [re.escape(w[:-1]) + "s?" if w.endswith("s") else re.escape(w) for w in name.split()]
    return re.search(rf"(?<![\d,]){re.escape(f'{count:,}')} {' '.join(words)}\b", text) is not None


def _holder(command: str, pid: int) -> str:
    return f"{command} on {socket.gethostname()} (pid {pid})"


def test_rewrap_keys_killed_half_way_then_run_again(archive: Archive) -> None:
    archive.ok("rotate_kek")
    openable = "SELECT COUNT(*) FROM archive_chatkey WHERE state IN ('active', 'superseded')"
    total = archive.scalar(openable)
    assert total > CHATS

    run = archive.start("rewrap_keys", "--max-rate", "50")  # ~6 s for 300+ chat keys
    done, todo = run.wait_for_progress()
    assert todo == total
    run.kill()

    rewrapped = archive.scalar(f"{openable} AND kek_version = '2'")
    assert 0 < done <= rewrapped < total, "the kill did not land half way"
    assert archive.scalar(f"{openable} AND kek_version = '1'") == total - rewrapped
    assert archive.lock_holders() == [("rewrap_keys", run.pid)]  # left behind by the kill
    # Half way, KEK version 1 still wraps chat keys: switching it off would be refused. (A dry
    # run, which takes no lock: the lock left behind is for the rerun to take over.)
    refused = archive.manage("configure_kek", "--disable", "1", "--dry-run")
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert f"{total - rewrapped:,} chat keys are still wrapped under KEK version 1" in (
        refused.stderr
    )

    again = archive.ok("rewrap_keys")
    assert f"took over the lock left by {_holder('rewrap_keys', run.pid)}" in again.stderr
    assert said(again.stdout, total - rewrapped, "rewrapped")
    assert archive.lock_holders() == []
    kek_versions = archive.query(
        "SELECT kek_version, COUNT(*) FROM archive_chatkey "
        "WHERE state IN ('active', 'superseded') GROUP BY 1"
    )
    assert kek_versions == [("2", total)]

    # Nothing needs KEK version 1 any more: switch it off and open everything without it.
    disabled = archive.ok("configure_kek", "--disable", "1")
    assert "KEK version 1: enabled -> disabled" in disabled.stdout
    verified = archive.ok("verify_archive")
    assert said(verified.stdout.splitlines()[-1], 0, "failed")


def test_reencrypt_messages_killed_half_way_then_run_again(archive: Archive) -> None:
    identities = archive.identities()
    big = [i for i in identities if i[0] == BIG_CHAT]
    digests = archive.script("digest", str(BIG_CHAT))
    assert len(digests) == len(big) + 1  # every revision of the chat, and its title
    assert not any(d.startswith("failed") for d in digests.values())
    messages = archive.scalar("SELECT COUNT(*) FROM archive_message")
    chats = archive.scalar("SELECT COUNT(*) FROM archive_chat")
    keys = archive.key_versions()

    archive.ok("rotate_chat_keys", "--chat", str(BIG_CHAT))
    assert archive.key_versions()[BIG_CHAT] == [(1, "superseded"), (2, "active")]

    run = archive.start("reencrypt_messages", "--max-rate", "150")  # ~5 s for ~750 revisions
    done, total = run.wait_for_progress()
    assert total == len(big)
    run.kill()

    by_version = dict(
        archive.query(
            "SELECT key_version, COUNT(*) FROM (SELECT key_version FROM archive_messagerevision "
            "WHERE chat_id = ? UNION ALL SELECT key_version FROM archive_message "
            "WHERE chat_id = ?) GROUP BY 1",
            BIG_CHAT,
            BIG_CHAT,
        )
    )
    assert set(by_version) == {1, 2}, f"the kill did not land half way: {by_version}"
    assert done <= by_version[2] < total
    # Nothing is retired before every record of the chat is re-sealed.
    assert archive.key_versions()[BIG_CHAT] == [(1, "superseded"), (2, "active")]

    again = archive.ok("reencrypt_messages")
    assert f"took over the lock left by {_holder('reencrypt_messages', run.pid)}" in again.stderr
    assert said(again.stdout, by_version[1], "revisions re-sealed")
    assert said(again.stdout, 1, "key versions retired")

    for table in ("archive_messagerevision", "archive_message"):
        sql = f"SELECT DISTINCT key_version FROM {table} WHERE chat_id = ?"  # noqa: S608
        used = archive.query(sql, BIG_CHAT)
        assert used == [(2,)], table
    title = archive.scalar("SELECT sealed_title FROM archive_chat WHERE chat_id = ?", BIG_CHAT)
    assert struct.unpack(">BI", bytes(title)[:5])[1] == 2  # the envelope names its key version
    states = archive.query(
        "SELECT version, state, length(wrapped) > 0 FROM archive_chatkey WHERE chat_id = ? "
        "ORDER BY 1",
        BIG_CHAT,
    )
    assert states == [(1, "retired", 0), (2, "active", 1)]  # the old key is erased
    assert {c: v for c, v in archive.key_versions().items() if c != BIG_CHAT} == {
        c: v for c, v in keys.items() if c != BIG_CHAT
    }

    verified = archive.ok("verify_archive", "--chat", str(BIG_CHAT))
    assert said(verified.stdout.splitlines()[-1], 0, "failed")
    # Nothing lost, nothing added, every record's content as it was.
    assert archive.identities() == identities
    assert archive.scalar("SELECT COUNT(*) FROM archive_message") == messages
    assert archive.scalar("SELECT COUNT(*) FROM archive_chat") == chats
    assert archive.script("digest", str(BIG_CHAT)) == digests


def test_rotate_chat_keys_killed_half_way_resumes_without_rotating_twice(
    archive: Archive,
) -> None:
    chats = len(archive.key_versions())
    run = archive.start("rotate_chat_keys", "--max-rate", "50")  # ~6 s for 300+ chats
    run.wait_for_progress()
    run.kill()

    rotated = archive.scalar("SELECT COUNT(*) FROM archive_chatkey WHERE version = 2")
    assert 0 < rotated < chats, "the kill did not land half way"
    checkpoints = archive.query("SELECT name FROM archive_maintenancecheckpoint")
    assert checkpoints == [("rotate_chat_keys:all",)]

    again = archive.ok("rotate_chat_keys")
    assert "resuming the run begun at" in again.stdout
    assert f"took over the lock left by {_holder('rotate_chat_keys', run.pid)}" in again.stderr
    assert said(again.stdout, rotated, "already rotated")
    assert said(again.stdout, chats - rotated, "rotated")

    versions = archive.key_versions()
    assert len(versions) == chats
    twice = {c: v for c, v in versions.items() if v != [(1, "superseded"), (2, "active")]}
    assert twice == {}, "some chats were rotated twice or not at all"
    assert archive.query("SELECT name FROM archive_maintenancecheckpoint") == []


def test_a_second_lifecycle_command_waits_for_the_lock(archive: Archive) -> None:
    archive.ok("rotate_kek")
    run = archive.start("rewrap_keys", "--max-rate", "30")  # ~10 s: time for two refusals
    deadline = time.monotonic() + 60
    while archive.lock_holders() != [("rewrap_keys", run.pid)]:
        assert run.process.poll() is None, run.stderr()
        assert time.monotonic() < deadline, "rewrap_keys never took the lock"
        time.sleep(0.02)

    refused = archive.manage("rotate_chat_keys", "--chat", str(OTHER_CHAT))
    assert refused.returncode == LOCK_HELD, (refused.stdout, refused.stderr)
    assert "another key-lifecycle command is running: " in refused.stderr
    assert _holder("rewrap_keys", run.pid) in refused.stderr
    assert "try again when it has finished" in refused.stderr
    assert archive.key_versions()[OTHER_CHAT] == [(1, "active")]  # it changed nothing
    assert archive.query("SELECT name FROM archive_maintenancecheckpoint") == []

    verify = archive.manage("verify_archive", "--chat", str(OTHER_CHAT))
    assert verify.returncode == LOCK_HELD, (verify.stdout, verify.stderr)
    assert _holder("rewrap_keys", run.pid) in verify.stderr

    code, _, err = run.finish()
    assert code == 0, err
    assert "took over" not in err  # the refused commands did not disturb its lease
    assert archive.lock_holders() == []

    archive.ok("rotate_chat_keys", "--chat", str(OTHER_CHAT))
    assert archive.key_versions()[OTHER_CHAT] == [(1, "superseded"), (2, "active")]
    verified = archive.ok("verify_archive", "--chat", str(OTHER_CHAT))
    assert said(verified.stdout.splitlines()[-1], 0, "failed")


def test_shred_chat_leaves_no_bytes_of_the_chat_in_the_database_files(archive: Archive) -> None:
    def rows(chat_id: int) -> dict[str, list[tuple[Any, ...]]]:
        tables = {
            "archive_chatkey": "version, state, kek_version, wrapped",
            "archive_chat": "sealed_title, message_count",
            "archive_message": "message_id, key_version, envelope",
            "archive_messagerevision": "message_id, edit_date, key_version, envelope",
        }
        found = {}
        for table, columns in tables.items():
            sql = f"SELECT {columns} FROM {table} WHERE chat_id = ? ORDER BY 1"  # noqa: S608
            found[table] = archive.query(sql, chat_id)
        return found

    before = rows(BIG_CHAT)
    secrets = [bytes(r[-1]) for r in before["archive_chatkey"]]
    secrets += [bytes(r[0]) for r in before["archive_chat"]]
    secrets += [bytes(r[-1]) for r in before["archive_message"]]
    secrets += [bytes(r[-1]) for r in before["archive_messagerevision"]]
    versions = len(before["archive_message"]) + len(before["archive_messagerevision"])
    assert versions > BIG
    others = [bytes(r[-1]) for r in rows(OTHER_CHAT)["archive_message"]]

    # Without --yes and without a terminal to ask on, it refuses and changes nothing.
    refused = archive.manage("shred_chat", str(BIG_CHAT))
    assert refused.returncode != 0
    assert "pass --yes" in refused.stderr
    assert rows(BIG_CHAT) == before
    assert archive.lock_holders() == []

    # A reader (as a running web worker would be) keeps the write-ahead log from being removed
    # when shred_chat exits, so that it is there to be read too.
    with closing(sqlite3.connect(archive.db)) as reader:
        reader.execute("SELECT COUNT(*) FROM archive_chat").fetchall()
        shredded = archive.ok("shred_chat", str(BIG_CHAT), "--yes")
        assert said(shredded.stdout, versions, "revisions deleted")
        wal = archive.db.with_name("db.sqlite3-wal")
        assert wal.exists()
        files = archive.db.read_bytes() + wal.read_bytes()

    left = [s for s in secrets if s[:32] in files or s[-32:] in files]
    assert left == [], f"{len(left)} of {len(secrets)} sealed records or keys are still on disk"
    assert all(e in files for e in others), "the search would not find a record that is there"

    after = rows(BIG_CHAT)
    assert after["archive_chatkey"] == [
        (1, "destroyed", r[2], b"") for r in before["archive_chatkey"]
    ]
    assert after["archive_chat"] == after["archive_message"] == []
    assert after["archive_messagerevision"] == []

    verified = archive.ok("verify_archive")
    assert f"chat {BIG_CHAT}: shredded" in verified.stdout
    assert said(verified.stdout.splitlines()[-1], 1, "shredded chats")
    assert said(verified.stdout.splitlines()[-1], 0, "failed")
