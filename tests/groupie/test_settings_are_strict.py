"""Settings fail at start-up, naming the setting, when a secret is missing or malformed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ROOT

BASE_ENV = {
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "groupie.settings",
    "DJANGO_SECRET_KEY": "k" * 50,
    "WEBHOOK_SECRET": "hook_secret-1",
    "DJANGO_ALLOWED_HOSTS": "example.org",
}
PRINT_SETTINGS = (
    "from django.conf import settings; "
    "print(settings.DEBUG, settings.SECRET_KEY, settings.WEBHOOK_SECRET, settings.ALLOWED_HOSTS)"
)


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in BASE_ENV.items() if k != name}


def test_the_defaults_are_production_ones() -> None:
    result = load_settings(BASE_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "WEBHOOK_SECRET", "DJANGO_ALLOWED_HOSTS"])
def test_a_missing_required_setting_fails_naming_it(name: str) -> None:
    result = load_settings(without(name))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def test_a_secret_can_come_from_a_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-a-file-" + "x" * 40 + "\n")
    env = {**without("DJANGO_SECRET_KEY"), "DJANGO_SECRET_KEY_FILE": str(tmp_path / "key")}
    result = load_settings(env)
    assert result.returncode == 0, result.stderr
    assert "from-a-file-" in result.stdout


def test_an_unreadable_secret_file_fails_naming_it(tmp_path: Path) -> None:
    env = {**without("WEBHOOK_SECRET"), "WEBHOOK_SECRET_FILE": str(tmp_path / "absent")}
    result = load_settings(env)
    assert result.returncode != 0
    assert "WEBHOOK_SECRET_FILE" in result.stderr


@pytest.mark.parametrize("value", ["has space", "x" * 257, "semi;colon", "ümlaut"])
def test_a_webhook_secret_telegram_would_refuse_fails_at_start(value: str) -> None:
    result = load_settings({**BASE_ENV, "WEBHOOK_SECRET": value})
    assert result.returncode != 0
    assert "WEBHOOK_SECRET" in result.stderr


def test_a_rotated_secrets_fallbacks_come_from_a_mounted_file_one_a_line(tmp_path: Path) -> None:
    (tmp_path / "old").write_text("old-key-" + "y" * 40 + "\nolder-key-" + "z" * 40 + "\n")
    env = {**BASE_ENV, "DJANGO_SECRET_KEY_FALLBACKS_FILE": str(tmp_path / "old")}
    code = "from django.conf import settings; print(len(settings.SECRET_KEY_FALLBACKS))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_a_webhook_secret_fallback_telegram_would_refuse_fails_at_start() -> None:
    result = load_settings({**BASE_ENV, "WEBHOOK_SECRET_FALLBACKS": "good_one,has space"})
    assert result.returncode != 0
    assert "WEBHOOK_SECRET_FALLBACKS" in result.stderr


def test_an_unknown_store_shortcut_fails_naming_the_choices() -> None:
    result = load_settings({**BASE_ENV, "GROUPIE_STORE": "mongo"})
    assert result.returncode != 0
    assert "GROUPIE_STORE" in result.stderr
    assert "orm" in result.stderr


def test_the_database_url_can_come_from_a_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "db").write_text("postgres://groupie:s3cret@db.internal:5432/groupie\n")
    env = {**BASE_ENV, "DATABASE_URL_FILE": str(tmp_path / "db")}
    shown = "from django.conf import settings; d = settings.DATABASES['default']; "
    shown += "print(d['ENGINE'], d['HOST'], d['NAME'])"
    result = subprocess.run(
        [sys.executable, "-c", shown], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "db.internal", "groupie"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GROUPIE_MEDIA_STORE": "gcs"}, "GROUPIE_MEDIA_BUCKET"),
        ({"GROUPIE_MEDIA_STORE": "s3"}, "GROUPIE_MEDIA_STORE"),
        ({"GROUPIE_TASKS": "celery"}, "GROUPIE_TASKS"),
        (
            {"GROUPIE_TASKS": "cloudtasks", "CLOUD_TASKS_QUEUE": "projects/p/locations/l/queues/q"},
            "GROUPIE_TASKS_URL, CLOUD_TASKS_SERVICE_ACCOUNT",
        ),
        ({"GROUPIE_TASK_CONCURRENCY": "0"}, "GROUPIE_TASK_CONCURRENCY=0"),
        ({"GROUPIE_MEDIA_FETCH_SECONDS": "-1"}, "GROUPIE_MEDIA_FETCH_SECONDS=-1"),
        ({"GROUPIE_MEDIA_MIN_RATE": "0"}, "GROUPIE_MEDIA_MIN_RATE=0"),
    ],
)
def test_media_and_tasks_misconfigured_fail_naming_what_is_missing(
    env: dict[str, str], named: str
) -> None:
    result = load_settings({**BASE_ENV, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr
