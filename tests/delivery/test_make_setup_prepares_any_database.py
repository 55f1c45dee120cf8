"""`make setup` (and so `make run` and `make manage`) prepares whatever database DATABASE_URL
names, not only the first one the checkout saw: migrated, with an admin user whose password is
the one in var/admin_password, the one make run's banner prints. An admin who already has
another password keeps it, and the banner says so instead of printing one that fails."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.core.management import call_command

from tests import ROOT


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The project as a checkout with no var/ yet: its files, linked."""
    if shutil.which("make") is None or not (ROOT / ".venv" / ".runtime").exists():
        pytest.skip("needs make and the project's .venv (make .venv/.installed)")
    copy = tmp_path / "checkout"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".git"):
            (copy / entry.name).symlink_to(entry)
    return copy


def make_setup(checkout: Path, database: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SECRET_KEY", "WEBHOOK_SECRET", "DATABASE_URL", "MAKEFLAGS")
    }
    # The settings find var/ beside their real file: keep this checkout's keyring its own.
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        LOCAL_KEYRING_PATH=str(checkout / "var" / "keyring.json"),
    )
    return subprocess.run(
        ["make", "--no-print-directory", "setup"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def admin_hash(database: Path) -> str:
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT password FROM auth_user WHERE username = 'admin'").fetchone()
    assert row is not None, "no admin user"
    return str(row[0])


def test_a_second_database_is_migrated_and_given_the_admin_the_banner_names(
    checkout: Path,
) -> None:
    first, second = checkout / "first.sqlite3", checkout / "second.sqlite3"
    said = make_setup(checkout, first)
    assert "Created the user admin in the SQLite database" in said.stderr
    password = (checkout / "var" / "admin_password").read_text().strip()
    assert check_password(password, admin_hash(first))

    said = make_setup(checkout, second)
    assert f"Created the user admin in the SQLite database {second}" in said.stderr
    assert check_password(password, admin_hash(second))
    with sqlite3.connect(second) as db:
        assert db.execute("SELECT count(*) FROM archive_chat").fetchone() == (0,)

    # Once done, quiet: nothing to migrate, the admin there already.
    again = make_setup(checkout, second)
    assert (again.stdout, again.stderr) == ("", "")

    # An admin with another password keeps it, and setup says so rather than pretend.
    with sqlite3.connect(second) as db:
        db.execute(
            "UPDATE auth_user SET password = ? WHERE username = 'admin'", [make_password("x")]
        )
    said = make_setup(checkout, second)
    assert "its password there is not the one in var/admin_password" in said.stdout
    assert check_password("x", admin_hash(second))


@pytest.mark.django_db
def test_the_banner_line_logs_in_or_says_why_not(tmp_path: Path) -> None:
    source = tmp_path / "admin_password"
    source.write_text("correct-horse\n")

    def banner() -> str:
        out = StringIO()
        call_command(
            "prepare_database",
            admin_password_file=source,
            admin_line=True,
            stdout=out,
            stderr=StringIO(),
        )
        return out.getvalue().strip()

    assert banner() == "user admin, password correct-horse"
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("correct-horse")
    assert admin.is_superuser
    assert banner() == "user admin, password correct-horse"

    admin.set_password("something-else")
    admin.save()
    line = banner()
    assert "correct-horse" not in line
    assert "its password there is not the one in" in line
    assert 'make manage CMD="changepassword admin"' in line
