"""A production start (debug off) serves the admin's static files or refuses to start, saying
how to fix it; and `check --deploy` is clean with the production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import ROOT


def production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "groupie.settings",
        "DJANGO_SECRET_KEY": "a-production-like-secret-" + "k" * 40,
        "WEBHOOK_SECRET": "hook_secret-1",
        "DJANGO_ALLOWED_HOSTS": "archive.example.org",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'groupie.db'}",
        "LOCAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
    }


def python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_without_collected_static_files_the_server_refuses_to_start(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    started = python(env, "-c", "import groupie.wsgi")
    assert started.returncode != 0
    assert "staticfiles.json is missing" in started.stderr
    assert "make static" in started.stderr
    check = python(env, "manage.py", "check", "--deploy")
    assert check.returncode != 0
    assert "groupie.E001" in check.stderr


def test_with_collected_static_files_it_starts_and_check_deploy_is_clean(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    collected = python(env, "manage.py", "collectstatic", "--noinput", "-v0")
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    assert any((tmp_path / "static" / "admin" / "css").glob("base.*.css.gz"))  # compressed
    started = python(env, "-c", "import groupie.wsgi")
    assert started.returncode == 0, started.stderr
    check = python(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout
