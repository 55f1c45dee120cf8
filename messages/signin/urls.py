from __future__ import annotations

from django.urls import path

from messages.signin.views import SignInCallback, SignInStart

# The names mozilla-django-oidc reverses.
urlpatterns = [
    path("authenticate/", SignInStart.as_view(), name="oidc_authentication_init"),
    path("callback/", SignInCallback.as_view(), name="oidc_authentication_callback"),
]
