"""The two single sign-on endpoints: /oidc/authenticate/ sends the browser to the provider
(with state, nonce and a PKCE challenge kept in the session), /oidc/callback/ takes the code
back. Both answer 404 while GROUPIE_OIDC_ISSUER is unset.

A sign-in that fails for any reason (refused at the provider, an unknown or replayed state, a
token that does not verify, an inactive user) leads back to the admin's login page saying so,
and is audited and counted once (messages/signin/outcome.py). A provider that cannot be
reached when a sign-in begins is a 503: the sign-in cannot work, and nothing of ours is
wrong with the request."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from messages.signin import provider
from messages.signin.outcome import note_failure

logger = logging.getLogger(__name__)


def _failed(request: HttpRequest, reason: str) -> None:
    note_failure(request, reason)
    user_login_failed.send(sender=__name__, credentials={"method": "oidc"}, request=request)


class SignInStart(OIDCAuthenticationRequestView):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the parent's, which reads the endpoint at once: it is discovered in get().
        self.OIDC_RP_CLIENT_ID = ""
        self.OIDC_OP_AUTH_ENDPOINT = ""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        if attr == "OIDC_RP_SCOPES":
            return import_from_settings("GROUPIE_OIDC_SCOPES")
        return import_from_settings(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not provider.enabled():
            raise Http404
        try:
            endpoints = provider.endpoints()
        except provider.ProviderUnavailable as exc:
            logger.error("single sign-on unavailable: %s", exc)
            _failed(request, "provider-unavailable")
            return HttpResponse(
                "Single sign-on is unavailable: the sign-in provider could not be reached. "
                "Try again in a minute; the service's log says more.\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        self.OIDC_OP_AUTH_ENDPOINT = endpoints.authorization
        self.OIDC_RP_CLIENT_ID = import_from_settings("GROUPIE_OIDC_CLIENT_ID")
        response: HttpResponseBase = super().get(request)
        return response


class SignInCallback(OIDCAuthenticationCallbackView):
    def get(self, request: HttpRequest) -> HttpResponseBase:
        if not provider.enabled():
            raise Http404
        error = request.GET.get("error")
        code, state = request.GET.get("code"), request.GET.get("state")
        issuer = request.GET.get("iss")
        if error:
            # The provider's error code, which it documents (access_denied, ...), never its
            # free-text description.
            _failed(request, "provider:" + re.sub(r"[^a-z_]", "", error.lower())[:40])
        elif not code or not state:
            _failed(request, "malformed-callback")
        elif state not in request.session.get("oidc_states", {}):
            # Unknown, expired or replayed (each state is used once): someone else's sign-in.
            _failed(request, "unknown-state")
            return self.login_failure()
        elif issuer is not None and issuer.rstrip("/") != provider.endpoints().issuer:
            # RFC 9207: a response from another provider than the one asked (a mix-up attack).
            _failed(request, "wrong-issuer")
            return self.login_failure()
        # The parent checks the state again, spends it, and calls authenticate(), which sends
        # user_login_failed itself when the backend refuses.
        response: HttpResponseBase = super().get(request)
        return response
