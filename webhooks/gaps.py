"""Gaps in Telegram's update_id: a signal that updates were lost, never a proof.

Telegram numbers a bot's updates in sequence, so where the ids groupie took in (archived or
ignored, by webhook or poll_updates) have holes, Telegram may have dropped updates (it keeps
an undelivered one 24 hours), or numbered updates of kinds groupie did not ask for and so never
got; a hole can also still be in flight (delivery is concurrent and retried). What this counts:
the ids missing between ids received in the last day, once the id above a hole has waited
SETTLE_SECONDS, ignoring a jump of more than RENUMBERED ids (Telegram renumbers after a quiet
week). The ids are kept in ``ReceivedUpdate`` for KEEP_SECONDS: ids only, nothing else.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps

WINDOW_SECONDS = 24 * 3600
SETTLE_SECONDS = 300
KEEP_SECONDS = 3 * 24 * 3600
RENUMBERED = 100_000


def _received() -> Any:
    # By name: the app registry is not ready when webhooks' AppConfig imports this module.
    return apps.get_model("archive", "ReceivedUpdate")


def note(update_id: int) -> None:
    """Records that ``update_id`` was taken in (a redelivery changes nothing). A write to
    Django's database: an archived message's id is recorded by its store, in its commit
    (``archive(update_id=...)``)."""
    _received().note(update_id)


def count(now: float | None = None) -> int:
    """Update ids missing among those received in the last WINDOW_SECONDS (see above)."""
    now = time.time() if now is None else now
    rows = _received().objects.filter(received_at__gte=now - WINDOW_SECONDS)
    missing, previous = 0, None
    for update_id, received_at in (
        rows.order_by("update_id").values_list("update_id", "received_at").iterator(chunk_size=5000)
    ):
        if previous is not None:
            hole = update_id - previous - 1
            if 0 < hole <= RENUMBERED and received_at <= now - SETTLE_SECONDS:
                missing += hole
        previous = update_id
    return missing


def forget_old(now: float | None = None) -> int:
    """Deletes ids older than KEEP_SECONDS; returns how many."""
    now = time.time() if now is None else now
    deleted, _ = _received().objects.filter(received_at__lt=now - KEEP_SECONDS).delete()
    return deleted
