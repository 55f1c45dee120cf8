"""The fault suite: with the database down, read-only or missing its tables, or the keyring
missing, wrong or unreadable, the webhook, the API, the admin and /readyz answer 503 (readiness
naming the part), never a 500, and nothing is half-written. Each fault is real: the database
really refuses, the keyring file really is gone or another."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from crypto.keyrings.local import LocalKeyring
from messages.models import Chat, ChatKey, Message, MessageRevision
from tests.conftest import Webhook, staff_client

pytestmark = pytest.mark.django_db(transaction=True)
TEAM = -1001234567890123
Fault = Callable[[Path], Any]


def _rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Message, MessageRevision, Chat, ChatKey))


@contextmanager
def read_only_database(keyring_path: Path) -> Iterator[None]:
    """The database answers reads and refuses every write."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET default_transaction_read_only = on")
        else:
            cursor.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET default_transaction_read_only = off")
            else:
                cursor.execute("PRAGMA query_only = OFF")


TABLES = ("archive_message", "archive_messagerevision", "archive_chat", "archive_chatkey")


@contextmanager
def dropped_tables(keyring_path: Path) -> Iterator[None]:
    """The archive's tables are gone (a botched migration, a restore into the wrong schema)."""
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")


@contextmanager
def database_down(keyring_path: Path) -> Iterator[None]:
    """The database server refuses connections (a port nothing listens on)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no server to go down; read-only and dropped tables cover it")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved


# A worker that holds a chat's key in its cache keeps serving that chat through a keyring
# outage (that is what the cache is for); each keyring fault starts from a cold cache, as a
# worker started during the outage would.


@contextmanager
def keyring_missing(keyring_path: Path) -> Iterator[None]:
    _forget_cached_keys()
    away = keyring_path.with_suffix(".away")
    keyring_path.rename(away)
    try:
        yield
    finally:
        away.rename(keyring_path)


@contextmanager
def keyring_unreadable(keyring_path: Path) -> Iterator[None]:
    """Not a keyring any more (a truncated copy, a file of something else)."""
    _forget_cached_keys()
    saved = keyring_path.read_bytes()
    keyring_path.write_text("{not json")
    try:
        yield
    finally:
        keyring_path.write_bytes(saved)


@contextmanager
def keyring_wrong(keyring_path: Path) -> Iterator[None]:
    """A valid keyring, but another deployment's: same version numbers, other KEKs."""
    saved = keyring_path.read_bytes()
    keyring_path.unlink()
    LocalKeyring.create_file(keyring_path)
    _forget_cached_keys()
    try:
        yield
    finally:
        keyring_path.write_bytes(saved)
        _forget_cached_keys()


def _forget_cached_keys() -> None:
    from messages.sealing import chat_keys

    chat_keys().keys.clear()
    chat_keys().active_versions.clear()


DATABASE_FAULTS = [read_only_database, dropped_tables, database_down]
KEYRING_FAULTS = [keyring_missing, keyring_unreadable, keyring_wrong]
ALL_FAULTS = DATABASE_FAULTS + KEYRING_FAULTS


@pytest.fixture
def archived(webhook: Webhook, api: Any) -> Any:
    assert webhook.post_fixture("text_message").status_code == 200
    return api


def _is_503(response: Any) -> None:
    assert response.status_code == 503, response.content[:500]
    assert response["Retry-After"]
    assert b"Traceback" not in response.content


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda f: f.__name__)
def test_the_webhook_answers_503_and_writes_nothing(
    fault: Fault, archived: Any, webhook: Webhook, keyring_path: Path
) -> None:
    before = _rows()
    with fault(keyring_path):
        _is_503(webhook.post_fixture("edited_message"))
        _is_503(webhook.post_fixture("private_message"))  # a new chat: a new chat key
    assert _rows() == before
    assert webhook.post_fixture("edited_message").json()["outcome"] == "revised"


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda f: f.__name__)
def test_the_api_answers_503(fault: Fault, archived: Any, keyring_path: Path) -> None:
    with fault(keyring_path):
        for path in ("/api/v1/messages/", "/api/v1/chats/", f"/api/v1/chats/{TEAM}/"):
            response = archived.get(path)
            _is_503(response)
            assert response.json() == {"detail": "The archive is unavailable; retry later."}


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda f: f.__name__)
def test_the_admin_answers_503(fault: Fault, archived: Any, keyring_path: Path) -> None:
    client = staff_client(decrypt=True)
    client.raise_request_exception = False  # the 503 comes from the 500 handler, as in production
    with fault(keyring_path):
        for path in ("/admin/archive/browsablechat/", f"/admin/archive/browsablechat/{TEAM}/"):
            response = client.get(path)
            _is_503(response)
            assert b"The archive is unavailable" in response.content


@pytest.mark.parametrize(
    ("fault", "part"),
    [
        (read_only_database, "database"),
        (dropped_tables, "store"),
        (database_down, "database"),
        (keyring_missing, "keyring"),
        (keyring_unreadable, "keyring"),
        (keyring_wrong, "keyring"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_readiness_answers_503_naming_the_part(
    fault: Fault, part: str, archived: Any, keyring_path: Path
) -> None:
    client = Client(raise_request_exception=False)
    with fault(keyring_path):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks[part].startswith("failed")
    assert client.get("/readyz").json()["checks"] == {
        "database": "ok",
        "store": "ok",
        "keyring": "ok",
    }


def test_a_wrong_keyring_is_named_as_such(archived: Any, keyring_path: Path) -> None:
    with keyring_wrong(keyring_path):
        checks = Client().get("/readyz").json()["checks"]
    assert checks["keyring"].startswith("failed: KeyringMismatch: the keyring is not the one")
    assert "LOCAL_KEYRING_PATH" in checks["keyring"]


@pytest.fixture
def firestore_stopped(cloud: Any, firestore_project: str) -> Any:
    """GROUPIE_STORE=firestore, then Firestore gone: within the block, clients reach a port
    nothing listens on (as a stopped emulator or an unreachable Firestore would be)."""
    from django.test import override_settings

    @contextmanager
    def stopped() -> Iterator[None]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        config = {
            "BACKEND": "messages.stores.firestore.FirestoreStore",
            "OPTIONS": {"project": firestore_project, "timeout": 1.0},
        }
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed}")
            with override_settings(GROUPIE_STORE=config):  # a new store, so a new client
                yield

    return stopped


def test_a_firestore_outage_answers_503_quickly_everywhere(
    firestore_stopped: Any, webhook: Webhook, api: Any
) -> None:
    import time

    assert webhook.post_fixture("text_message").status_code == 200
    with firestore_stopped():
        started = time.monotonic()
        _is_503(webhook.post_fixture("edited_message"))
        elapsed = time.monotonic() - started
        _is_503(api.get("/api/v1/messages/"))
        admin = staff_client(decrypt=True)
        admin.raise_request_exception = False
        _is_503(admin.get("/admin/archive/browsablechat/"))
        ready = Client().get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"].startswith("failed")
    # Within the bound (1 s a call here, 5 s by default), not the client's minutes of retries.
    assert elapsed < 15
    assert webhook.post_fixture("edited_message").json()["outcome"] == "revised"
