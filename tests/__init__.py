"""groupie's test suite: a package, so tests import their helpers as ``tests.conftest``,
``tests.peers`` or one another's, and the same file name may appear in two folders."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository, wherever a test file sits

# The environment's own settings of these families are dropped, so a test's archive is exactly
# the one its environment names.
_OURS = ("GROUPIE_", "KMS_", "FIRESTORE_", "DATABASE_", "LOCAL_KEYRING")


def archive_environment(directory: Path, **extra: str) -> dict[str, str]:
    """The environment of a process of groupie (a command, a server) on an archive of its own
    under ``directory``: a SQLite database, a local keyring and a media directory there, with
    test secrets; ``extra`` adds or overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(
        DJANGO_SETTINGS_MODULE="groupie.settings",
        DJANGO_SECRET_KEY="test-secret-key-not-for-production-0123456789abcdef",
        WEBHOOK_SECRET="test-webhook-secret_0123456789",
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="localhost",
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        LOCAL_KEYRING_PATH=str(directory / "keyring.json"),
        GROUPIE_MEDIA_PATH=str(directory / "media"),
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env
