"""Shared fixtures: a fresh local keyring per test, Telegram fixture loading, webhook posting."""

from __future__ import annotations

import json
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import Client, override_settings
from django.test.testcases import LiveServerThread

from crypto.keyrings.local import LocalKeyring

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"


def _one_request_at_a_time(application: Any) -> Any:
    """``application``, serving one request at a time, its response read whole inside."""
    lock = threading.Lock()

    def serve(environ: Any, start_response: Any) -> list[bytes]:
        with lock:
            response = application(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                if hasattr(response, "close"):
                    response.close()

    return serve


class _SharedConnectionServer(ThreadedWSGIServer):
    """The live server, for tests. On in-memory SQLite its request threads all use the test's
    one connection (there is no other way to see the test's data), and Django's transaction
    state on a connection is not safe for threads: two requests at once (a browser's page and
    its images, a chart's data) can interleave their atomic blocks, fail with "UNIQUE
    constraint failed" or "database table is locked", and leave the connection in a broken
    atomic block that fails every later test. So there it answers one request at a time."""

    def set_app(self, application: Any) -> None:
        if self.connections_override:
            application = _one_request_at_a_time(application)
        super().set_app(application)


LiveServerThread.server_class = _SharedConnectionServer


def load_update(name: str) -> dict[str, Any]:
    """A Telegram Update from tests/fixtures/telegram/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty cache: the admin's index and statistics keep what they
    counted for a minute or five, and a test's archive (its chat ids reused) is not the
    previous test's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _live_server_requests_end_before_the_flush(request: pytest.FixtureRequest) -> Any:
    """A test with the live server ends only once the server has answered every request.

    On in-memory SQLite the server's request threads share the test's one connection (see
    ``_SharedConnectionServer``), and a browser can leave a request running (a chart's data,
    a thumbnail) as its page closes: the flush at the test's end must not run beside it."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("live_server")  # set up first, so torn down after this
    yield
    # Until no request has been running for a quarter of a second: one still in the
    # server's accept queue gets its thread within that.
    deadline, quiet_since = time.monotonic() + 30, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 0.25:
        if any(t.name.endswith("(process_request_thread)") for t in threading.enumerate()):
            quiet_since = time.monotonic()
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def keyring_path(tmp_path: Path) -> Any:
    """Every test gets its own keyring file, so no test depends on another's keys."""
    path = tmp_path / "keyring.json"
    LocalKeyring.create_file(path)
    config = {"BACKEND": "crypto.keyrings.local.LocalKeyring", "OPTIONS": {"path": str(path)}}
    with override_settings(GROUPIE_KEYRING=config):
        yield path


@pytest.fixture(autouse=True)
def media_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test gets its own media directory (the local media store), here and in the
    commands and servers it starts (GROUPIE_MEDIA_PATH), never the checkout's var/media."""
    path = tmp_path / "media"
    monkeypatch.setenv("GROUPIE_MEDIA_PATH", str(path))
    config = {
        "BACKEND": "messages.media.blobs.local.LocalBlobStore",
        "OPTIONS": {"path": str(path)},
    }
    with override_settings(GROUPIE_MEDIA_STORE=config):
        yield path


class Webhook:
    """Posts Updates to the webhook the way Telegram does."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def post(self, update: object, *, secret: str | None = None, path: str | None = None) -> Any:
        headers = {}
        token = settings.WEBHOOK_SECRET if secret is None else secret
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        body = update if isinstance(update, (bytes, str)) else json.dumps(update)
        return self.client.post(
            path or "/telegram/webhook/",
            data=body,
            content_type="application/json",
            headers=headers,
        )

    def post_fixture(self, name: str, **kwargs: Any) -> Any:
        return self.post(load_update(name), **kwargs)


def staff_client(*, decrypt: bool, superuser: bool = False, perms: tuple[str, ...] = ()) -> Client:
    """A logged-in staff member, with the decrypt permission or without, and any other
    permissions named by codename. A reader is granted every chat (docs/access.md)."""
    from django.contrib.auth.models import Permission, User

    from messages.models import AuditEntry, ChatAccess

    user = User.objects.create_user(
        f"staff{decrypt}{superuser}{len(perms) or ''}",
        password="pw",
        is_staff=True,
        is_superuser=superuser,
    )
    codenames = (*perms, "view_decrypted") if decrypt else perms
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    if decrypt:
        ChatAccess.objects.create(user=user)
    client = Client()
    client.force_login(user)
    # Signing in writes its own audit entry (tests/browser/test_single_sign_on.py); the tests using
    # this client count the entries of what the user then did.
    AuditEntry.objects.filter(action="sign-in").delete()
    return client


@pytest.fixture
def webhook(client: Client, db: None) -> Webhook:
    return Webhook(client)


@pytest.fixture
def demo(db: None) -> None:
    """The demo conversation, archived through the real archive service."""
    from django.core.management import call_command

    call_command("load_demo", stdout=StringIO())


@pytest.fixture
def make_api_client(db: None) -> Any:
    """Builds API clients authenticated with a fresh API key (optionally limited to chats)."""
    from rest_framework.test import APIClient

    from messages.apikeys import create_api_key

    def build(*chat_ids: int) -> APIClient:
        record, key = create_api_key("test", chat_ids)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        api.key_record = record  # type: ignore[attr-defined]
        api.key = key  # type: ignore[attr-defined]
        return api

    return build


@pytest.fixture
def api(make_api_client: Any) -> Any:
    """An API client with a key for every chat."""
    return make_api_client()


KMS_KEY_NAME = "projects/groupie-test/locations/global/keyRings/groupie/cryptoKeys/chat-keys"


@pytest.fixture(scope="session")
def kms_server() -> Any:
    """The loopback Cloud KMS peer, one per test session."""
    from tests.peers.kms import KmsPeer

    peer = KmsPeer(KMS_KEY_NAME)
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture
def kms(kms_server: Any, keyring_path: Path) -> Any:
    """GROUPIE_KEYRING=cloudkms against a freshly reset loopback KMS."""
    kms_server.reset()
    config = {
        "BACKEND": "crypto.keyrings.cloudkms.CloudKMSKeyring",
        "OPTIONS": {
            "key_name": KMS_KEY_NAME,
            "endpoint": kms_server.endpoint,
            "backoff": 0.01,
            "signing_key_name": kms_server.signing_key_name,
        },
    }
    with override_settings(GROUPIE_KEYRING=config):
        yield kms_server


# Key leases short enough that rotation and shred tests wait about four seconds, not sixteen.
FIRESTORE_LEASE = {"key_lease": 1.0, "write_timeout": 2.0}


@pytest.fixture(scope="session")
def firestore_emulator() -> Any:
    """The Firestore emulator for the session; FIRESTORE_EMULATOR_HOST points clients at it.

    Missing, it fails the run under CI=true and skips locally, saying how to install it."""
    import os

    from tests.peers.firestore import start_emulator
    from tests.peers.node import PeerMissing, stop_peer

    try:
        process, host = start_emulator()
    except PeerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    yield host
    stop_peer(process)
    if previous is None:
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
    else:
        os.environ["FIRESTORE_EMULATOR_HOST"] = previous


OIDC_CLIENT = ("groupie-admin", "test-client-secret-0123456789")


@pytest.fixture
def oidc_provider() -> Any:
    """Starts the tests' OpenID provider (tests/peers/oidc/) for one redirect URI and returns
    its issuer URL; stopped after the test. Client: OIDC_CLIENT; users: launch.mjs.

    Missing, it fails the run under CI=true and skips locally, saying how to install it."""
    import os

    from tests.peers.node import PeerMissing, stop_peer
    from tests.peers.oidc import start_provider

    started = []

    def start(redirect_uri: str) -> str:
        try:
            process, issuer = start_provider(redirect_uri, *OIDC_CLIENT)
        except PeerMissing as exc:
            if os.environ.get("CI"):
                pytest.fail(str(exc))
            pytest.skip(str(exc))
        started.append(process)
        return issuer

    yield start
    for process in started:
        stop_peer(process)


@pytest.fixture
def firestore_project(firestore_emulator: str) -> str:
    """A project of its own for each test: the emulator keeps projects apart."""
    import uuid

    return f"groupie-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cloud(kms: Any, firestore_project: str) -> Any:
    """GROUPIE_STORE=firestore on the emulator and GROUPIE_KEYRING=cloudkms on the KMS peer."""
    config = {
        "BACKEND": "messages.stores.firestore.FirestoreStore",
        "OPTIONS": {"project": firestore_project, "database": "(default)", **FIRESTORE_LEASE},
    }
    with override_settings(GROUPIE_STORE=config):
        yield kms


@pytest.fixture
def bot_api(settings: Any) -> Any:
    """The loopback Bot API server, with TELEGRAM_API_URL and TELEGRAM_TOKEN pointing at it."""
    from webhooks.loopback import BotApiPeer

    peer = BotApiPeer()
    settings.TELEGRAM_API_URL, settings.TELEGRAM_TOKEN = peer.url, peer.token
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def gcs_emulator() -> Any:
    """A Cloud Storage emulator (the gcp-storage-emulator package) for the session, in memory;
    STORAGE_EMULATOR_HOST points the real google-cloud-storage client at it. It is taught
    ``ifGenerationMatch=0``, which it ignores and Cloud Storage honours (tests/peers/gcs.py)."""
    import os
    import socket

    from gcp_storage_emulator.server import create_server

    from tests.peers.gcs import honour_if_generation_match

    honour_if_generation_match()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    yield os.environ["STORAGE_EMULATOR_HOST"]
    server.stop()
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def gcs_bucket(gcs_emulator: str) -> str:
    """A fresh bucket on the emulator, and GROUPIE_MEDIA_STORE=gcs on it."""
    import uuid

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = f"media-{uuid.uuid4().hex[:12]}"
    storage.Client(project="groupie-test", credentials=AnonymousCredentials()).create_bucket(name)
    config = {
        "BACKEND": "messages.media.blobs.gcs.GCSBlobStore",
        "OPTIONS": {"bucket": name, "project": "groupie-test"},
    }
    with override_settings(GROUPIE_MEDIA_STORE=config):
        yield name


@pytest.fixture
def run_worker(db: None) -> Any:
    """Runs django-tasks' database worker over what is queued and due, as `make run` does.
    Its tests must be marked django_db(transaction=True): the worker closes a connection it
    finds inside a transaction."""
    from django.core.management import call_command

    def run() -> None:
        call_command(
            "db_worker", "--batch", "--no-startup-delay", "--interval", "0", stdout=StringIO()
        )

    return run
