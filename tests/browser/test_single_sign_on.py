"""Single sign-on in a real browser against a real OpenID provider (tests/peers/oidc/): the
button on the admin's login page, the provider's login page, and back in the admin as a new
staff user with the mapped group; once only, however often they sign in. The password form
refuses everyone but the break-glass superuser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from messages.models import AuditEntry, SignInIdentity
from tests.browser.test_content_security_policy import COLLECT_VIOLATIONS
from tests.conftest import OIDC_CLIENT
from tests.groupie.test_metrics_complete import Delta


@pytest.fixture
def sso(live_server: Any, oidc_provider: Any, settings: Any) -> str:
    issuer = oidc_provider(f"{live_server.url}/oidc/callback/")
    settings.GROUPIE_OIDC_ISSUER = issuer
    settings.GROUPIE_OIDC_CLIENT_ID, settings.GROUPIE_OIDC_CLIENT_SECRET = OIDC_CLIENT
    settings.GROUPIE_OIDC_GROUPS_CLAIM = "groups"
    settings.GROUPIE_OIDC_SCOPES = "openid email profile groups"
    settings.GROUPIE_OIDC_PROVIDER_NAME = "Test IdP"
    settings.GROUPIE_ADMIN_PASSWORD_LOGIN = "superusers"
    return str(live_server.url)


def session_cookie(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")


def sign_in_at_the_provider(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/admin/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password: the provider's development login")
    # The session that holds the sign-in's state, nonce and PKCE verifier, before sign-in.
    before = session_cookie(page)
    page.click("button[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("Welcome, Ada")
    # login() gave the signed-in session a new key; the old one is gone.
    assert session_cookie(page) != before
    assert not Session.objects.filter(session_key=before).exists()


def test_a_new_person_signs_in_once_as_staff_with_the_mapped_group(
    page: Page, sso: str, transactional_db: None
) -> None:
    readers = Group.objects.create(name="archive-readers")
    readers.permissions.add(Permission.objects.get(codename="view_auditentry"))
    sign_in_at_the_provider(page, sso, "ada")

    user = User.objects.get(username="ada@example.test")
    assert user.is_staff
    assert not user.is_superuser
    assert not user.has_usable_password()
    assert not user.user_permissions.exists()
    assert [g.name for g in user.groups.all()] == ["archive-readers"]
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert SignInIdentity.objects.get(user=user).subject == "ada"
    # The group's permission works: the audit log is readable, and holds the sign-in.
    page.goto(f"{sso}/admin/archive/auditentry/")
    expect(page.locator("#result_list")).to_contain_text("sign-in")
    entry = AuditEntry.objects.get(action="sign-in")
    assert entry.user == user
    assert entry.filters == {"method": "oidc", "created": True, "groups": ["archive-readers"]}

    # Out, and in again: the provider remembers the person, groupie finds the same user.
    page.locator("#logout-form button").click()
    page.goto(f"{sso}/admin/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.locator("#user-tools")).to_contain_text("Welcome, Ada")
    assert User.objects.count() == 1
    assert SignInIdentity.objects.count() == 1
    assert AuditEntry.objects.filter(action="sign-in").count() == 2


def test_the_password_form_is_for_the_break_glass_superuser_only(
    page: Page, sso: str, transactional_db: None
) -> None:
    User.objects.create_user("legacy-staff", password="browser-test-pw-9", is_staff=True)
    User.objects.create_superuser("break-glass", password="browser-test-pw-8")
    failures = Delta("groupie_admin_login_failures_total")

    page.goto(f"{sso}/admin/login/")
    expect(page.locator("#break-glass-note")).to_contain_text("break-glass superuser")
    page.fill("#id_username", "legacy-staff")
    page.fill("#id_password", "browser-test-pw-9")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#user-tools")).to_have_count(0)
    assert failures.change == 1
    refused = AuditEntry.objects.get(action="sign-in-failed")
    assert (refused.actor, refused.filters) == (
        "legacy-staff",
        {"method": "password", "reason": "password-not-allowed"},
    )

    page.fill("#id_username", "break-glass")
    page.fill("#id_password", "browser-test-pw-8")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("break-glass")
    assert AuditEntry.objects.get(action="sign-in").filters == {"method": "password"}


def test_the_button_and_the_trip_to_the_provider_break_no_content_security_policy(
    page: Page, sso: str, transactional_db: None
) -> None:
    page.add_init_script(COLLECT_VIOLATIONS)
    page.goto(f"{sso}/admin/login/")
    expect(page.locator("#sso-button")).to_be_visible()
    assert page.evaluate("window.__violations") == []
    page.locator("#sso-button").click()
    expect(page.locator("input[name=login]")).to_be_visible()  # at the provider
