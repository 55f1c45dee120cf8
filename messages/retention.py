"""How long each chat's messages are kept: setting and clearing a chat's retention period.

A period schedules deletion (``purge_messages`` deletes what is older), so changing one is an
operator action like a key's: ``do_set_retention`` and ``do_clear_retention`` validate, change
the row, write the audit entry in the same transaction and count the change, whichever way it
came (the admin, ``set_retention``). Both channels refuse a bad period with the same words.
Who may call them is the caller's check: in the admin, ``archive.manage_retention``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from groupie import metrics
from messages import audit
from messages.models import AuditEntry, ChatRetention

MIN_DAYS = 1
# A hundred years: beyond it a period is a typo (or an overflow), not a policy. "Forever" is
# no period at all.
MAX_DAYS = 36_500
MANAGE_PERMISSION = "archive.manage_retention"


class InvalidPeriod(ValueError):
    """A retention period out of range: nothing was changed."""


def check_days(days: int) -> int:
    """``days`` if it is a period we keep, else InvalidPeriod naming the range."""
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidPeriod(
            f"a retention period is {MIN_DAYS} to {MAX_DAYS} days (100 years), not {days!r}; "
            "to keep a chat's messages forever, clear its period"
        )
    return days


def do_set_retention(
    chat_id: int, days: int, *, request: HttpRequest | None = None
) -> ChatRetention:
    """Keeps the chat's messages ``days`` days (``purge_messages`` deletes what is older).
    ``request`` is the admin's (the entry names its user), None for a command."""
    check_days(days)
    with transaction.atomic():
        before = ChatRetention.objects.select_for_update().filter(chat_id=chat_id).first()
        row, _ = ChatRetention.objects.update_or_create(chat_id=chat_id, defaults={"days": days})
        _audit(
            "set_retention",
            chat_id,
            {"days": days, "before": before.days if before else "forever"},
            request,
        )
    metrics.RETENTION_CHANGES.labels(_channel(request), "set").inc()
    return row


def do_clear_retention(chat_id: int, *, request: HttpRequest | None = None) -> bool:
    """Keeps the chat's messages forever; returns whether it had a period. Audited either
    way: an operator asked for it."""
    with transaction.atomic():
        before = ChatRetention.objects.select_for_update().filter(chat_id=chat_id).first()
        if before is not None:
            before.delete()
        _audit(
            "clear_retention",
            chat_id,
            {"days": "forever", "before": before.days if before else "forever"},
            request,
        )
    metrics.RETENTION_CHANGES.labels(_channel(request), "cleared").inc()
    return before is not None


def _channel(request: HttpRequest | None) -> str:
    return AuditEntry.ADMIN if request is not None else AuditEntry.COMMAND


def _audit(action: str, chat_id: int, filters: dict[str, Any], request: HttpRequest | None) -> None:
    if request is None:
        audit.record_command(action, chat_id=chat_id, filters=filters)
    else:
        # Written at once, inside the change's transaction: the change is made whatever the
        # page that answers it shows.
        audit.record(
            request,
            channel=AuditEntry.ADMIN,
            action=action,
            chat_id=chat_id,
            filters=filters,
            immediately=True,
        )
