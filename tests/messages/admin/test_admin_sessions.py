"""Admin sessions: they end after GROUPIE_ADMIN_SESSION_MINUTES without a request, signing in
gives the session a new key, and deactivating a user ends every session they have."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client

from messages.models import UserSession

pytestmark = pytest.mark.django_db
PASSWORD = "session-test-pw-1"


def signed_in(username: str = "keeper") -> tuple[Client, User]:
    user = User.objects.filter(username=username).first() or User.objects.create_user(
        username, password=PASSWORD, is_staff=True
    )
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content
    return client, user


def is_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_a_session_ends_after_the_idle_time_and_each_request_restarts_the_clock(
    settings: Any,
) -> None:
    settings.SESSION_COOKIE_AGE = 2  # what GROUPIE_ADMIN_SESSION_MINUTES sets, in seconds
    client, _ = signed_in()
    for _ in range(3):  # 3.6 s in all, longer than the idle time, with a request each 1.2 s
        time.sleep(1.2)
        assert is_in(client)
    time.sleep(2.5)
    assert not is_in(client)
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_signing_in_gives_the_session_a_new_key_and_deletes_the_old_one() -> None:
    User.objects.create_user("rotor", password=PASSWORD, is_staff=True)
    client = Client()
    session = client.session
    session["before-sign-in"] = "kept by the anonymous session"
    session.save()
    before = session.session_key
    client.post("/admin/login/?next=/admin/", {"username": "rotor", "password": PASSWORD})
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert is_in(client)


def test_deactivating_a_user_ends_every_session_they_have_at_once() -> None:
    laptop, user = signed_in()
    phone, _ = signed_in()
    other, _ = signed_in("bystander")
    keys = set(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    assert len(keys) == 2
    user.is_active = False
    user.save()
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert not UserSession.objects.filter(user=user).exists()
    assert not is_in(laptop)
    assert not is_in(phone)
    assert is_in(other)


def test_signing_out_drops_the_session_from_the_index_and_expired_ones_are_pruned() -> None:
    client, user = signed_in()
    stale, _ = signed_in()
    stale_key = stale.cookies["sessionid"].value
    Session.objects.filter(session_key=stale_key).delete()  # as clearsessions does
    client.post("/admin/logout/")
    # The stale row stays until the user's next sign-in looks.
    index = UserSession.objects.filter(user=user).values_list("session_key", flat=True)
    assert list(index) == [stale_key]
    signed_in()
    assert not UserSession.objects.filter(session_key=stale_key).exists()
    assert UserSession.objects.filter(user=user).count() == 1


def test_deleting_a_user_ends_their_sessions() -> None:
    client, user = signed_in()
    key = client.cookies["sessionid"].value
    user.delete()
    assert not Session.objects.filter(session_key=key).exists()
