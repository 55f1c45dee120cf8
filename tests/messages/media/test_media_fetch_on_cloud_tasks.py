"""GROUPIE_TASKS=cloudtasks: the fetch is an HTTP task on Cloud Tasks (a loopback peer through
the real google-cloud-tasks client) that calls the live service back with an OIDC token, which
the endpoint verifies before running anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from messages.models import MediaFile
from tests.conftest import Webhook, load_update
from tests.peers.cloudtasks import CloudTasksPeer
from webhooks import media
from webhooks.demo_data import DEMO_MEDIA
from webhooks.loopback import BotApiPeer

QUEUE = "projects/groupie-test/locations/europe-west1/queues/media"
INVOKER = "groupie-tasks@groupie-test.iam.gserviceaccount.com"
PHOTO = (DEMO_MEDIA / "party-1.jpg").read_bytes()


@pytest.fixture
def cloud_tasks(settings: Any, live_server: Any) -> Iterator[CloudTasksPeer]:
    peer = CloudTasksPeer()
    peer.start()
    settings.TASKS = {
        "default": {
            "BACKEND": "groupie.cloudtasks.CloudTasksBackend",
            "OPTIONS": {
                "queue": QUEUE,
                "url": live_server.url,
                "service_account": INVOKER,
                "endpoint": peer.endpoint,
                "certs_url": peer.certs_url,
            },
        }
    }
    yield peer
    peer.stop()


def audience(live_server: Any) -> str:
    return f"{live_server.url}/internal/tasks/"


@pytest.mark.django_db(transaction=True)
def test_a_retry_is_a_task_scheduled_on_the_queue(
    cloud_tasks: CloudTasksPeer,
    bot_api: BotApiPeer,
    live_server: Any,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(media, "BACKOFF_SECONDS", (1, 1, 1, 1, 1, 1))  # seconds, not minutes
    update = load_update("photo_with_caption")
    bot_api.add_file(update["message"]["photo"][-1]["file_id"], PHOTO, "photo.jpg")
    bot_api.fail("getFile", 503, "Service Unavailable", times=1)
    assert Webhook(client).post(update).status_code == 200
    [created] = cloud_tasks.created
    assert created.parent == QUEUE
    http = created.task.http_request
    assert http.url == audience(live_server)
    assert (http.oidc_token.service_account_email, http.oidc_token.audience) == (
        INVOKER,
        audience(live_server),
    )
    assert json.loads(http.body)["task"] == "webhooks.media.fetch_media"

    cloud_tasks.wait_idle()
    # The first attempt met Telegram's 503 and queued a retry with a schedule time a backoff
    # later; the queue delivered it when due, and the file was sealed.
    row = MediaFile.objects.get()
    assert (row.status, row.attempts) == ("stored", 2)
    first, retry = cloud_tasks.created
    delay = retry.task.schedule_time.timestamp() - first.task.create_time.timestamp()
    assert 0.5 < delay < 5
    assert [status for _, status in cloud_tasks.deliveries] == [200, 200]


@pytest.mark.django_db(transaction=True)
def test_a_delivered_task_runs_and_a_retry_is_scheduled_on_the_queue(
    cloud_tasks: CloudTasksPeer, bot_api: BotApiPeer, client: Client
) -> None:
    update = load_update("photo_with_caption")
    bot_api.add_file(update["message"]["photo"][-1]["file_id"], PHOTO, "photo.jpg")
    Webhook(client).post(update)
    cloud_tasks.wait_idle()
    row = MediaFile.objects.get()
    assert (row.status, row.size, row.content_type) == ("stored", len(PHOTO), "image/jpeg")
    assert [status for _, status in cloud_tasks.deliveries] == [200]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("claims", "said"),
    [
        ({"aud": "https://elsewhere.example/internal/tasks/"}, "does not verify"),
        ({"email": "someone@groupie-test.iam.gserviceaccount.com"}, "another identity"),
        ({"email_verified": False}, "another identity"),
        ({"iss": "https://issuer.example"}, "another issuer"),
        ({"exp": 1_000_000_000, "iat": 999_999_000}, "does not verify"),
    ],
)
def test_the_endpoint_refuses_a_token_that_is_not_the_queues(
    cloud_tasks: CloudTasksPeer, live_server: Any, claims: dict[str, Any], said: str
) -> None:
    token = cloud_tasks.token(audience(live_server), INVOKER, **claims)
    answer = run_task(live_server, token)
    assert answer.status_code == 403
    assert said in answer.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_refuses_a_forged_signature_and_no_token(
    cloud_tasks: CloudTasksPeer, live_server: Any
) -> None:
    token = cloud_tasks.token(audience(live_server), INVOKER)
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    assert run_task(live_server, forged).status_code == 403
    assert run_task(live_server, None).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_only_groupies_own_tasks_run(cloud_tasks: CloudTasksPeer, live_server: Any) -> None:
    token = cloud_tasks.token(audience(live_server), INVOKER)
    for path in ("os.system", "django.core.management.call_command", "webhooks.media.fetch"):
        answer = run_task(live_server, token, {"task": path, "args": ["x"], "kwargs": {}})
        assert answer.status_code == 400
        assert answer.json() == {"detail": "Not a task of this service."}


@pytest.mark.django_db
def test_without_cloud_tasks_the_endpoint_is_not_there(client: Client) -> None:
    assert client.post("/internal/tasks/", "{}", content_type="application/json").status_code == 404


def run_task(live_server: Any, token: str | None, body: dict[str, Any] | None = None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = body or {"task": "webhooks.media.fetch_media", "args": [999], "kwargs": {}}
    return httpx.post(audience(live_server), json=payload, headers=headers, timeout=10)
