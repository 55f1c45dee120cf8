"""The single sign-on and session settings fail at start-up, naming the setting, when they
cannot work; their defaults are the documented ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.groupie.test_settings_are_strict import BASE_ENV, ROOT

PRINT = (
    "from django.conf import settings as s; print(s.GROUPIE_ADMIN_PASSWORD_LOGIN, "
    "s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST, s.GROUPIE_OIDC_CLIENT_SECRET)"
)
ISSUER = {"GROUPIE_OIDC_ISSUER": "https://login.example.org", "GROUPIE_OIDC_CLIENT_ID": "c"}


def settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**BASE_ENV, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_single_sign_on_passwords_serve_all_and_sessions_idle_out_in_30_minutes() -> None:
    loaded = settings_with()
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["all", "1800", "True"]


def test_with_single_sign_on_only_superusers_keep_a_password(tmp_path: Path) -> None:
    secret = tmp_path / "oidc_secret"
    secret.write_text("from-a-mounted-file\n")
    loaded = settings_with(
        **ISSUER, GROUPIE_OIDC_CLIENT_SECRET_FILE=str(secret), GROUPIE_ADMIN_SESSION_MINUTES="5"
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["superusers", "300", "True", "from-a-mounted-file"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (ISSUER, "GROUPIE_OIDC_CLIENT_SECRET"),
        (
            {"GROUPIE_OIDC_ISSUER": "https://x.example", "GROUPIE_OIDC_CLIENT_SECRET": "s"},
            "CLIENT_ID",
        ),
        (
            {
                **ISSUER,
                "GROUPIE_OIDC_ISSUER": "http://login.example.org",
                "GROUPIE_OIDC_CLIENT_SECRET": "s",
            },
            "must be an https:// URL",
        ),
        ({"GROUPIE_ADMIN_PASSWORD_LOGIN": "staff"}, "use all, superusers or off"),
        ({"GROUPIE_ADMIN_PASSWORD_LOGIN": "off"}, "nobody could sign in"),
        ({"GROUPIE_ADMIN_SESSION_MINUTES": "0"}, "GROUPIE_ADMIN_SESSION_MINUTES"),
    ],
)
def test_a_setting_that_cannot_work_stops_the_start_naming_it(
    env: dict[str, str], named: str
) -> None:
    loaded = settings_with(**env)
    assert loaded.returncode != 0
    assert named in loaded.stderr
