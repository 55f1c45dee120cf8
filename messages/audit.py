"""The audit trail of decrypted views, shared by the admin and the API.

An entry says what someone was shown, so it is written only once the response showing it is
known to be good: during a request ``record`` holds the entry on the request, and
``AuditOnSuccessMiddleware`` writes what is held after the view's response has rendered
without error. If that write fails, the response is replaced by a 503: nothing is shown that
the log does not hold."""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from groupie import metrics
from groupie.requests import client_address
from messages import outage
from messages.models import ApiKey, AuditEntry

# Enough to say what a page showed without letting one entry grow without bound.
MAX_IDS = 500
PENDING = "_groupie_audit_pending"  # the request attribute holding entries not yet written
logger = logging.getLogger(__name__)


def record(
    request: HttpRequest,
    *,
    channel: str,
    action: str,
    chat_id: int | None = None,
    message_ids: Iterable[str] = (),
    filters: dict[str, Any] | None = None,
    api_key: ApiKey | None = None,
    immediately: bool = False,
) -> AuditEntry:
    """Records what ``request`` was shown: held until its response renders well (see the
    middleware), or written at once with ``immediately`` (a failure worth keeping although
    the response is an error)."""
    user = getattr(request, "user", None)
    is_user = user is not None and user.is_authenticated and api_key is None
    entry = AuditEntry(
        channel=channel,
        user=user if is_user else None,
        api_key=api_key,
        actor=(
            f"API key {api_key.name} ({api_key.prefix})"
            if api_key
            else (user.get_username() if is_user and user else "anonymous")
        ),
        action=action,
        chat_id=chat_id,
        message_ids=list(message_ids)[:MAX_IDS],
        filters={k: v for k, v in (filters or {}).items() if v not in (None, "", [], ())},
        client_address=client_address(request),
    )
    pending: list[AuditEntry] | None = getattr(request, PENDING, None)
    if pending is None or immediately:
        entry.save()
        metrics.AUDIT_ENTRIES.labels(channel).inc()
    else:
        pending.append(entry)
    return entry


class AuditOnSuccessMiddleware:
    """Writes the audit entries a request's view recorded, once its response rendered well
    (below 400); a response that failed shows nothing and records nothing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        pending: list[AuditEntry] = []
        setattr(request, PENDING, pending)
        response = self.get_response(request)
        if pending and response.status_code < 400:
            try:
                AuditEntry.objects.bulk_create(pending)
            except DatabaseError as exc:
                logger.error("audit entries not written: %s", type(exc).__name__)
                return outage.unavailable(request)
            for entry in pending:
                metrics.AUDIT_ENTRIES.labels(entry.channel).inc()
        return response


def record_action(
    action: str,
    *,
    request: HttpRequest | None = None,
    channel: str = AuditEntry.ADMIN,
    chat_id: int | None = None,
    filters: dict[str, Any] | None = None,
    immediately: bool = True,
) -> AuditEntry:
    """The entry of an operator action (a ``do_*`` function), whichever surface called it:
    without ``request`` a command's (the OS user on this host), else the admin's or the API's
    (``channel``; its user or API key). Written at once unless ``immediately`` is False (an
    API response that shows what it records: held until it renders). Counts the action."""
    if request is None:
        # As ``record`` keeps them: a filter not given is left out, whichever the channel.
        kept = {k: v for k, v in (filters or {}).items() if v not in (None, "", [], ())}
        entry = record_command(action, chat_id=chat_id, filters=kept)
    else:
        auth = getattr(request, "auth", None)
        entry = record(
            request,
            channel=channel,
            action=action,
            chat_id=chat_id,
            filters=filters,
            api_key=auth if isinstance(auth, ApiKey) else None,
            immediately=immediately,
        )
    metrics.OPERATOR_ACTIONS.labels(action, entry.channel).inc()
    return entry


def record_command(
    action: str, *, chat_id: int | None = None, filters: dict[str, Any] | None = None
) -> AuditEntry:
    """An entry for a manage.py command: run by whom (the OS user) on which host."""
    metrics.AUDIT_ENTRIES.labels(AuditEntry.COMMAND).inc()
    return AuditEntry.objects.create(
        channel=AuditEntry.COMMAND,
        actor=f"{_os_user()}@{socket.gethostname()}",
        action=action,
        chat_id=chat_id,
        filters=filters or {},
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return "unknown"
