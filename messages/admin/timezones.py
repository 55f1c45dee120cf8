"""Dates in the viewer's own time zone: a per-user setting (``ViewerSettings``), default the
server's ``TIME_ZONE``. Stored dates stay UTC; only what a page shows changes.

The zone is kept in the session once read, so the middleware costs no query per request."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache

from django import forms
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from messages.models import ViewerSettings

SESSION_KEY = "groupie_time_zone"


@cache
def zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def zone_of(request: HttpRequest) -> str:
    """The signed-in viewer's zone name (their setting, else the server's)."""
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY):
        return str(session[SESSION_KEY])
    user = getattr(request, "user", None)
    name = settings.TIME_ZONE
    if user is not None and user.is_authenticated:
        saved = ViewerSettings.objects.filter(user=user).values_list("time_zone", flat=True)
        name = next(iter(saved), settings.TIME_ZONE)
        if session is not None:
            session[SESSION_KEY] = name
    return name


def save_zone(request: HttpRequest, name: str) -> None:
    ViewerSettings.objects.update_or_create(user=request.user, defaults={"time_zone": name})
    request.session[SESSION_KEY] = name
    timezone.activate(zoneinfo.ZoneInfo(name))


def _zone_choices() -> list[tuple[str, str]]:
    return [(z, z.replace("_", " ")) for z in zones()]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Time zone", choices=_zone_choices)


class ViewerTimeZoneMiddleware:
    """Activates the viewer's zone for the request (after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = zone_of(request)
            try:
                timezone.activate(zoneinfo.ZoneInfo(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()  # a zone this server's tz database lacks: the default
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
