"""Single sign-on refuses what it must, against the tests' real OpenID provider: a forged or
replayed state, an error from the provider, an ID token for someone else or signed by another
key; a provider that is down answers 503 and leaves the break-glass password working. Users
are matched on the provider's subject, never on an e-mail address."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group, User
from django.test import Client, RequestFactory

from messages.models import AuditEntry
from messages.signin.backends import OIDCBackend
from tests.conftest import OIDC_CLIENT
from tests.groupie.test_metrics_complete import Delta

pytestmark = pytest.mark.django_db
FAILURES = "groupie_admin_login_failures_total"


@pytest.fixture
def issuer(oidc_provider: Any, settings: Any) -> str:
    url: str = oidc_provider("http://testserver/oidc/callback/")
    settings.GROUPIE_OIDC_ISSUER = url
    settings.GROUPIE_OIDC_CLIENT_ID, settings.GROUPIE_OIDC_CLIENT_SECRET = OIDC_CLIENT
    settings.GROUPIE_OIDC_GROUPS_CLAIM = "groups"
    settings.GROUPIE_ADMIN_PASSWORD_LOGIN = "superusers"
    return url


def failure() -> AuditEntry:
    return AuditEntry.objects.get(action="sign-in-failed")


def test_a_sign_in_begins_with_state_nonce_and_a_pkce_challenge(issuer: str) -> None:
    client = Client()
    response = client.get("/oidc/authenticate/?next=/admin/archive/auditentry/")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == issuer
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"] in client.session["oidc_states"]
    assert query["nonce"] == client.session["oidc_states"][query["state"]]["nonce"]
    assert query["redirect_uri"] == "http://testserver/oidc/callback/"


def test_a_forged_state_is_refused_audited_and_counted(issuer: str) -> None:
    client = Client()
    client.get("/oidc/authenticate/")
    failures = Delta(FAILURES)
    response = client.get("/oidc/callback/?code=stolen&state=forged")
    assert response["Location"] == "/admin/login/?sso=failed"
    assert failures.change == 1
    assert failure().filters == {"method": "oidc", "reason": "unknown-state"}
    page = client.get(response["Location"]).content.decode()
    assert "did not succeed" in page
    assert "_auth_user_id" not in client.session


def test_an_error_from_the_provider_spends_the_state(issuer: str) -> None:
    client = Client()
    started = client.get("/oidc/authenticate/")
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    client.get(f"/oidc/callback/?error=access_denied&state={state}")
    assert failure().filters == {"method": "oidc", "reason": "provider:access_denied"}
    assert state not in client.session.get("oidc_states", {})


def test_a_code_the_provider_does_not_know_is_refused(issuer: str) -> None:
    client = Client()
    started = client.get("/oidc/authenticate/")
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    response = client.get(f"/oidc/callback/?code=not-a-code&state={state}")
    assert response["Location"] == "/admin/login/?sso=failed"
    assert failure().filters == {"method": "oidc", "reason": "provider-error"}


def test_a_provider_that_is_down_is_a_503_and_the_break_glass_password_still_works(
    issuer: str, settings: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.GROUPIE_OIDC_ISSUER = f"http://127.0.0.1:{closed}"
    failures = Delta(FAILURES)
    response = Client().get("/oidc/authenticate/")
    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()
    assert failures.change == 1
    User.objects.create_superuser("break-glass", password="sso-test-pw-1")
    client = Client()
    signed = client.post("/admin/login/", {"username": "break-glass", "password": "sso-test-pw-1"})
    assert signed.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_without_an_issuer_there_is_no_button_and_no_route(settings: Any) -> None:
    settings.GROUPIE_OIDC_ISSUER = ""
    client = Client()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in client.get("/admin/login/").content.decode()


def id_token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "ada", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k"})


def test_an_id_token_must_be_for_this_client_from_this_issuer(issuer: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    backend = OIDCBackend()
    client_id = OIDC_CLIENT[0]
    good = id_token(key, iss=issuer, aud=client_id)
    assert backend.get_payload_data(good, public)["sub"] == "ada"
    with pytest.raises(jwt.InvalidAudienceError):
        backend.get_payload_data(id_token(key, iss=issuer, aud="another-app"), public)
    with pytest.raises(jwt.InvalidIssuerError):
        backend.get_payload_data(id_token(key, iss="https://evil.example", aud=client_id), public)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        backend.get_payload_data(good, other)
    # The header cannot choose the algorithm: an HMAC token is refused whatever its key.
    forged = jwt.encode({"sub": "ada", "iss": issuer, "aud": client_id}, "x" * 32, "HS256")
    with pytest.raises(jwt.InvalidAlgorithmError):
        backend.get_payload_data(forged, public)


def test_users_are_matched_on_the_subject_never_on_the_email_address(issuer: str) -> None:
    Group.objects.create(name="archive-readers")
    backend = OIDCBackend()
    backend.request = RequestFactory().get("/oidc/callback/")
    first = backend.create_user({"sub": "s-1", "email": "ada@example.test", "groups": []})
    moved = {"sub": "s-1", "email": "ada@new.example", "groups": ["archive-readers", "nope"]}
    [found] = backend.filter_users_by_claims(moved)
    assert found == first
    backend.update_user(found, moved)
    found.refresh_from_db()
    assert found.email == "ada@new.example"
    assert [g.name for g in found.groups.all()] == ["archive-readers"]
    assert not Group.objects.filter(name="nope").exists()  # never created from a claim
    # Someone else who now has the old address at the provider is someone else here.
    newcomer = {"sub": "s-2", "email": "ada@example.test"}
    assert not backend.filter_users_by_claims(newcomer).exists()
    second = backend.create_user(newcomer)
    assert second != first
    assert second.username.startswith("sso-")
    assert second.is_staff
    assert not second.has_usable_password()
