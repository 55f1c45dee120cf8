"""An audit entry says what someone was shown, so it is written only for a response that was
delivered: a view that records an entry and then fails leaves none."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from messages import audit
from messages.models import AuditEntry

pytestmark = pytest.mark.django_db


def shows_then_succeeds(request: HttpRequest) -> HttpResponse:
    audit.record(request, channel=AuditEntry.ADMIN, action="shown", chat_id=1)
    return HttpResponse("the page")


def shows_then_fails(request: HttpRequest) -> HttpResponse:
    audit.record(request, channel=AuditEntry.ADMIN, action="shown", chat_id=1)
    raise ValueError("rendering failed after the view recorded what it would show")


def shows_then_answers_an_error(request: HttpRequest) -> HttpResponse:
    audit.record(request, channel=AuditEntry.ADMIN, action="shown", chat_id=1)
    return HttpResponse("no", status=404)


urlpatterns = [
    path("ok/", shows_then_succeeds),
    path("fails/", shows_then_fails),
    path("error/", shows_then_answers_an_error),
]


@override_settings(ROOT_URLCONF=__name__)
def test_a_delivered_response_is_audited() -> None:
    assert Client().get("/ok/").status_code == 200
    assert list(AuditEntry.objects.values_list("action", "chat_id")) == [("shown", 1)]


@override_settings(ROOT_URLCONF=__name__)
def test_a_response_that_failed_is_not_audited() -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/fails/").status_code == 500
    assert client.get("/error/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_outside_a_request_an_entry_is_written_at_once() -> None:
    request = HttpRequest()
    audit.record(request, channel=AuditEntry.API, action="direct")
    assert AuditEntry.objects.get().action == "direct"
