"""On a terminal (text logs, as `make manage` runs them) a one-off command prints its own
lines and no timestamped INFO log line among them; JSON logs (production) keep every line,
and the commands that run until stopped keep their INFO lines."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from groupie.logging import quiet_one_off_commands
from tests import ROOT, archive_environment

INFO_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ", re.MULTILINE)


@pytest.fixture(scope="module")
def manage(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    directory = tmp_path_factory.mktemp("archive")
    env = archive_environment(directory)

    def run(*args: str, log_format: str = "text") -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env={**env, "GROUPIE_LOG_FORMAT": log_format},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    run("migrate", "-v0")
    run("init_keyring")
    return run


@pytest.mark.parametrize("command", ["key_status", "rotate_kek"])
def test_a_key_command_prints_no_info_line(manage: Callable[..., str], command: str) -> None:
    said = manage(command)
    assert said.strip()
    assert not INFO_LINE.search(said), said


def test_json_logs_keep_the_action_s_line(manage: Callable[..., str]) -> None:
    said = manage("rotate_kek", log_format="json")
    assert '"severity": "INFO", "message": "rotate_kek finished: ok"' in said


def test_commands_that_run_until_stopped_keep_their_info_lines() -> None:
    for command in ("db_worker", "poll_updates", "runserver"):
        environ = {"GROUPIE_LOG_FORMAT": "text"}
        quiet_one_off_commands(["manage.py", command], environ)
        assert "GROUPIE_LOG_LEVEL" not in environ
    chosen = {"GROUPIE_LOG_FORMAT": "text", "GROUPIE_LOG_LEVEL": "DEBUG"}
    quiet_one_off_commands(["manage.py", "key_status"], chosen)
    assert chosen["GROUPIE_LOG_LEVEL"] == "DEBUG"  # the operator's choice wins
