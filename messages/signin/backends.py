"""The two ways into the admin, as Django authentication backends.

``PasswordBackend`` is Django's own, narrowed by ``GROUPIE_ADMIN_PASSWORD_LOGIN``: with single
sign-on on, only a superuser (the break-glass account) may use a password, and its sessions
obey the same rule, so turning single sign-on on also ends the password sessions of everyone
else. ``OIDCBackend`` is mozilla-django-oidc's, with what it leaves to the site: endpoints
discovered from the issuer, the ID token's issuer and audience checked (the library checks
neither), users matched on the provider's ``sub`` (never on an e-mail address, which can be
reassigned), created as staff without permissions, and groups synced from a claim.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from messages.models import SignInIdentity
from messages.signin import provider
from messages.signin.outcome import note_failure, note_success

# How long an ID token's times may be off from this machine's clock.
CLOCK_LEEWAY_SECONDS = 60


class PasswordBackend(ModelBackend):
    """Username and password, for whom GROUPIE_ADMIN_PASSWORD_LOGIN allows."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if settings.GROUPIE_ADMIN_PASSWORD_LOGIN == "off":  # noqa: S105 (a mode, not a password)
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not self.may_use_password(user):
            if request is not None:
                note_failure(request, "password-not-allowed")
            return None
        return user

    def get_user(self, user_id: int) -> User | None:
        # Asked of every request's session: a rule tightened later ends the sessions it bars.
        user = super().get_user(user_id)
        return user if user is not None and self.may_use_password(user) else None

    @staticmethod
    def may_use_password(user: User | AnonymousUser | None) -> bool:
        mode = settings.GROUPIE_ADMIN_PASSWORD_LOGIN
        return mode == "all" or (mode == "superusers" and getattr(user, "is_superuser", False))


class OIDCBackend(OIDCAuthenticationBackend):
    """Sign-in at the OpenID provider (authorization code flow with PKCE, state and nonce)."""

    OIDC_RP_SIGN_ALGO = "RS256"
    OIDC_RP_IDP_SIGN_KEY = None
    request: HttpRequest

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the parent's: it reads the endpoints at once, and every authenticate() call (a
        # password sign-in too) builds every backend. Ours are discovered when a sign-in
        # needs them, so a provider that is down never blocks the break-glass password.
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # (the library's attribute names)
        return provider.endpoints().token

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return provider.endpoints().userinfo

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return provider.endpoints().jwks

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return str(settings.GROUPIE_OIDC_CLIENT_ID)

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return str(settings.GROUPIE_OIDC_CLIENT_SECRET)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        if attr == "OIDC_RP_SCOPES":
            return settings.GROUPIE_OIDC_SCOPES
        return import_from_settings(attr, *args)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        # Only the callback view's call, with the nonce and PKCE verifier kept in the session
        # when the sign-in began, is a sign-in at the provider.
        if request is None or not provider.enabled() or not kwargs.get("code_verifier"):
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
        except provider.ProviderUnavailable:
            note_failure(request, "provider-unavailable")
            return None
        except requests.RequestException:
            note_failure(request, "provider-error")
            return None
        except (SuspiciousOperation, jwt.PyJWTError):
            note_failure(request, "token-rejected")
            return None
        if user is None:
            note_failure(request, "claims-rejected")
            return None
        if not user.is_active:
            note_failure(request, "inactive-user")
            return None
        return user

    def get_payload_data(self, token: str, key: Any) -> dict[str, Any]:
        """The ID token's claims once its signature (RS256 only: the header cannot pick
        another algorithm), issuer, audience and times are right."""
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[self.OIDC_RP_SIGN_ALGO],
            audience=self.OIDC_RP_CLIENT_ID,
            issuer=provider.endpoints().issuer,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        # OpenID Connect Core 3.1.3.7: with several audiences, the token must be for us.
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("ID token azp is not this client")
        return claims

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """The ID token's claims, with the userinfo endpoint's added when there is one."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT and access_token:
            info = super().get_userinfo(access_token, id_token, payload)
            # OpenID Connect Core 5.3.2: userinfo about anyone else must not be used.
            if not isinstance(info, dict) or info.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("userinfo is about another subject")
            claims.update(info)
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return isinstance(claims.get("sub"), str) and bool(claims["sub"])

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        identities = SignInIdentity.objects.filter(
            issuer=provider.endpoints().issuer, subject=claims["sub"]
        )
        return User.objects.filter(pk__in=identities.values("user_id"))

    def create_user(self, claims: dict[str, Any]) -> User:
        """A staff user without permissions and without a usable password."""
        issuer = provider.endpoints().issuer
        try:
            with transaction.atomic():
                user = User(username=username_for(issuer, claims), is_staff=True)
                copy_profile(user, claims)
                user.set_unusable_password()
                user.save()
                SignInIdentity.objects.create(
                    user=user, issuer=issuer, subject=claims["sub"], last_sign_in=timezone.now()
                )
        except IntegrityError:
            # The same person's first sign-in in two tabs at once: the other one made them.
            existing = self.filter_users_by_claims(claims).first()
            if existing is None:
                raise
            return self.update_user(existing, claims)
        note_success(self.request, created=True, groups=sync_groups(user, claims))
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        if copy_profile(user, claims):
            user.save(update_fields=["email", "first_name", "last_name"])
        SignInIdentity.objects.filter(user=user, subject=claims["sub"]).update(
            last_sign_in=timezone.now()
        )
        note_success(self.request, created=False, groups=sync_groups(user, claims))
        return user


def username_for(issuer: str, claims: dict[str, Any]) -> str:
    """The e-mail address or preferred_username when free and valid, else a name made from
    the subject (stable, and telling nothing)."""
    for candidate in (claims.get("email"), claims.get("preferred_username")):
        if not isinstance(candidate, str) or not 0 < len(candidate) <= 150:
            continue
        try:
            UnicodeUsernameValidator()(candidate)
        except ValidationError:
            continue
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    digest = hashlib.sha256(f"{issuer} {claims['sub']}".encode()).hexdigest()
    return f"sso-{digest[:16]}"


def copy_profile(user: User, claims: dict[str, Any]) -> bool:
    """Copies the e-mail address and names from the claims; says whether any changed."""
    changed = False
    for field, claim, limit in (
        ("email", "email", 254),
        ("first_name", "given_name", 150),
        ("last_name", "family_name", 150),
    ):
        value = claims.get(claim)
        if isinstance(value, str) and value[:limit] != getattr(user, field):
            setattr(user, field, value[:limit])
            changed = True
    return changed


def sync_groups(user: User, claims: dict[str, Any]) -> list[str] | None:
    """Makes the user a member of exactly the existing Django groups named in the groups
    claim (none when the claim is missing). Groups are never created from a claim: a group
    exists because an administrator made it and gave it its permissions. Returns the names,
    or None when GROUPIE_OIDC_GROUPS_CLAIM is unset (memberships are then left alone)."""
    claim = settings.GROUPIE_OIDC_GROUPS_CLAIM
    if not claim:
        return None
    values = claims.get(claim) or []
    if isinstance(values, str):  # one group sent as a string
        values = [values]
    names = (
        [value for value in values if isinstance(value, str)] if isinstance(values, list) else []
    )
    groups = list(Group.objects.filter(name__in=names).order_by("name"))
    user.groups.set(groups)
    return [group.name for group in groups]
