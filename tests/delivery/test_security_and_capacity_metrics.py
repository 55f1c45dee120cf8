"""The metrics the security and capacity alerts read (deploy/monitoring/alerts.rules.yml,
groups groupie-security and groupie-capacity): API refusals by status, failed sign-ins, and
how full the volume is that holds one box's database, keyring and media."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from prometheus_client import REGISTRY

from groupie import datavolume


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.mark.django_db
def test_api_requests_without_a_valid_key_are_counted_as_refusals(client: Client) -> None:
    before = sample("groupie_api_refusals_total", {"status": "401"})
    assert client.get("/api/v1/messages/").status_code == 401
    assert client.get("/api/v1/chats/", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert sample("groupie_api_refusals_total", {"status": "401"}) == before + 2


@pytest.mark.django_db
def test_an_api_request_with_a_good_key_is_no_refusal(api: Client) -> None:
    before = sample("groupie_api_refusals_total", {"status": "401"})
    assert api.get("/api/v1/chats/").status_code == 200
    assert sample("groupie_api_refusals_total", {"status": "401"}) == before


@pytest.mark.django_db
def test_a_failed_admin_sign_in_is_counted_and_a_good_one_is_not(client: Client) -> None:
    get_user_model().objects.create_superuser("alice", "alice@example.org", "right-password")
    before = sample("groupie_admin_login_failures_total")
    form = {"username": "alice", "password": "wrong-password", "next": "/admin/"}
    assert client.post("/admin/login/", form).status_code == 200  # the form again, with an error
    assert sample("groupie_admin_login_failures_total") == before + 1
    form["password"] = "right-password"
    assert client.post("/admin/login/", form).status_code == 302
    assert sample("groupie_admin_login_failures_total") == before + 1


def test_the_data_volume_is_measured_as_df_does(media_path: Path, keyring_path: Path) -> None:
    datavolume._last_refresh = None
    datavolume.observe_data_volume(now=1000.0)
    directory = keyring_path.parent  # the keyring's directory; media/ is not created yet
    usage = os.statvfs(directory)
    used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    available = usage.f_bavail * usage.f_frsize
    ratio = sample("groupie_data_volume_used_ratio", {"path": str(directory)})
    assert ratio == pytest.approx(used / (used + available), abs=0.01)
    assert 0 < ratio < 1
    free = sample("groupie_data_volume_free_bytes", {"path": str(directory)})
    assert free == pytest.approx(available, rel=0.05)


def test_the_data_volume_is_read_at_most_once_a_minute(
    tmp_path: Path, settings: object, keyring_path: Path
) -> None:
    shm = Path("/dev/shm")  # noqa: S108 - a tmpfs of its own, for a second device
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a device of its own")
    datavolume._last_refresh = None
    datavolume.observe_data_volume(now=5000.0)
    media = shm / f"groupie-test-{os.getpid()}"
    settings.GROUPIE_MEDIA_STORE = {  # type: ignore[attr-defined]
        "BACKEND": "messages.media.blobs.local.LocalBlobStore",
        "OPTIONS": {"path": str(media / "media")},
    }
    media.mkdir()
    try:
        label = {"path": str(media)}
        datavolume.observe_data_volume(now=5030.0)  # within the minute: not read again
        assert REGISTRY.get_sample_value("groupie_data_volume_free_bytes", label) is None
        datavolume.observe_data_volume(now=5061.0)
        assert REGISTRY.get_sample_value("groupie_data_volume_free_bytes", label) is not None
    finally:
        media.rmdir()
