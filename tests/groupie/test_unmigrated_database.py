"""A DATABASE_URL no one migrated is named as such, everywhere, with the command that fixes it:
every command of ours stops in one line (no traceback, nothing written, exit 1), /readyz and
the webhook answer 503 saying why in one log line. Django's own commands are never stopped."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client

from groupie import schema
from groupie.commands import ArchiveCommand
from tests import ROOT
from tests.conftest import FIXTURES

EXPORT = FIXTURES.parent / "telegram_export" / "result.json"
# Commands of ours that never touch the database, so need no migrated one.
NO_DATABASE = {"webhook_info", "init_keyring", "prepare_database"}


def test_every_command_of_ours_checks_the_database_is_migrated() -> None:
    ours = {name: app for name, app in get_commands().items() if app in ("messages", "webhooks")}
    assert "key_status" in ours
    assert "import_telegram_export" in ours
    unchecked = sorted(
        name
        for name, app in ours.items()
        if name not in NO_DATABASE and not isinstance(load_command_class(app, name), ArchiveCommand)
    )
    assert unchecked == []


@pytest.fixture
def unmigrated(tmp_path: Path) -> dict[str, str]:
    """The environment of a process pointed at a new, empty SQLite database."""
    database = tmp_path / "new.sqlite3"
    sqlite3.connect(database).close()
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "LOCAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "GROUPIE_MEDIA_PATH": str(tmp_path / "media"),
        "GROUPIE_LOG_FORMAT": "text",
        "GROUPIE_LOG_LEVEL": "INFO",
    }


def tables(env: dict[str, str]) -> list[str]:
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["key_status"],
        ["import_telegram_export", str(EXPORT), "--dry-run"],
        ["import_telegram_export", str(EXPORT)],
    ],
    ids=["key_status", "import-dry-run", "import"],
)
def test_a_command_on_an_unmigrated_database_says_so_in_one_line_and_changes_nothing(
    unmigrated: dict[str, str], command: list[str]
) -> None:
    result = manage(unmigrated, *command)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not migrated" in lines[0]
    assert "python manage.py migrate" in lines[0]
    assert "make manage CMD=migrate" in lines[0]
    assert tables(unmigrated) == []


def test_django_s_own_commands_are_not_stopped_and_migrate_fixes_it(
    unmigrated: dict[str, str],
) -> None:
    shown = manage(unmigrated, "showmigrations", "archive")
    assert shown.returncode == 0
    assert "[ ] 0001_initial" in shown.stdout
    assert manage(unmigrated, "migrate", "-v0").returncode == 0
    after = manage(unmigrated, "key_status")
    assert "not migrated" not in after.stderr
    assert "archive_message" in tables(unmigrated)


SERVE = """
import django, os
django.setup()
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
update = open(os.environ["UPDATE"], "rb").read()
answer = client.post(
    "/telegram/webhook/", update, content_type="application/json",
    HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=os.environ["WEBHOOK_SECRET"],
)
print("webhook", answer.status_code)
answer = client.get("/readyz")
print("readyz", answer.status_code, answer.content.decode())
"""


def test_the_webhook_and_readiness_answer_503_naming_an_unmigrated_database(
    unmigrated: dict[str, str],
) -> None:
    env = {
        **unmigrated,
        "UPDATE": str(FIXTURES / "text_message.json"),
        "DJANGO_SETTINGS_MODULE": "groupie.settings",
        "PYTHONPATH": str(ROOT),
    }
    assert manage(env, "init_keyring").returncode == 0
    result = subprocess.run(
        [sys.executable, "-c", SERVE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert "webhook 503" in out
    # The webhook's one line says why, and the fix; the access line names the error's kind.
    intake = [line for line in out.splitlines() if "webhooks.intake" in line]
    assert len(intake) == 1
    assert "is not migrated" in intake[0]
    assert "python manage.py migrate" in intake[0]
    readyz = next(line for line in out.splitlines() if line.startswith("readyz"))
    assert readyz.startswith("readyz 503")
    assert "NotMigrated: the database is not migrated" in readyz
    assert "python manage.py migrate" in readyz
    # Public: the log names the database, the answer does not.
    assert env["DATABASE_URL"].removeprefix("sqlite:///") not in readyz
    assert tables(unmigrated) == []


@pytest.mark.django_db
def test_readiness_names_a_migration_not_yet_applied(client: Client) -> None:
    # The database a release's new migration has not reached: the archive's latest is missing.
    latest = max(
        name for app, name in MigrationLoader(connection).graph.leaf_nodes() if app == "archive"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'archive' AND name = %s", [latest]
        )
    schema._up_to_date.clear()
    try:
        answer = client.get("/readyz")
    finally:
        schema._up_to_date.clear()
    assert answer.status_code == 503
    assert "is not migrated (1 migration to apply)" in answer.json()["checks"]["database"]
