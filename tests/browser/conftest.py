"""Browser tests: Playwright driving Debian's chromium against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from messages.models import ChatAccess

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around
# it are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # CHROMIUM_PATH names another Chromium build (GitHub's runners ship Google Chrome).
    executable = (
        os.environ.get("CHROMIUM_PATH")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if executable is None:
        message = "chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_FLAGS}


@pytest.fixture
def live_demo(transactional_db: None) -> None:
    call_command("load_demo", stdout=StringIO())


@pytest.fixture
def make_staff(transactional_db: None) -> Any:
    def make(username: str, *, decrypt: bool) -> tuple[str, str]:
        password = "browser-test-pw-1"
        user = User.objects.create_user(username, password=password, is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
        if decrypt:
            user.user_permissions.add(Permission.objects.get(codename="view_decrypted"))
            ChatAccess.objects.create(user=user)  # every chat
        return username, password

    return make
