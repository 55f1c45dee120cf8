"""One Telegram Update into the archive, the same way whoever brings it (the webhook, or
poll_updates): parse, archive, count in groupie_updates_total, and say what happened."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.db import DatabaseError

from crypto.errors import CryptoError
from groupie import metrics
from groupie.schema import NotMigrated
from messages.services import archive, archive_event
from messages.stores.records import PutOutcome, RecordRefused, StoreError
from messages.telegram import IncomingMessage
from messages.telegram_events import IncomingEvent
from webhooks import gaps
from webhooks.media import ENQUEUE_FAILURES, FetchQueuer
from webhooks.updates import IgnoredUpdate, InvalidUpdate, parse_update

logger = logging.getLogger(__name__)
INVALID, IGNORED, UNAVAILABLE = "invalid", "ignored", "unavailable"


@dataclass
class Intake:
    outcome: str  # a PutOutcome's value, or ignored, invalid, unavailable
    reason: str = ""  # for invalid and unavailable: what went wrong, never content
    update: IncomingMessage | IncomingEvent | IgnoredUpdate | None = None
    # What a log line may say of it: ids, kinds, the outcome, timings.
    context: dict[str, object] = field(default_factory=dict)


def take(data: object) -> Intake:
    """Archives the decoded Update ``data``. Invalid input (never from Telegram, or values no
    store can hold) is ``invalid``; an outage of ours (store, keyring) is ``unavailable`` and
    nothing is stored, so the update must be delivered again."""
    try:
        update = parse_update(data)
    except InvalidUpdate as exc:
        # Its text names the problem or the field, never content.
        metrics.UPDATES.labels("unknown", INVALID).inc()
        return Intake(INVALID, str(exc))
    context: dict[str, object] = {"update_id": update.update_id}
    if isinstance(update, IgnoredUpdate):
        try:
            gaps.note(update.update_id)
        except DatabaseError as exc:
            return _unavailable(update, context, exc, "update not taken in")
        metrics.UPDATES.labels(update.kind, IGNORED).inc()
        context.update(update_kind=update.kind, outcome=IGNORED)
        return Intake(IGNORED, update=update, context=context)
    context.update(
        update_kind=update.update_kind, chat_id=update.chat_id, message_id=update.message_id
    )
    started = time.perf_counter()
    try:
        # Its file's record and fetch task are written with it; if they cannot be, the update
        # is not acknowledged, and the redelivery (a duplicate) queues the file.
        if isinstance(update, IncomingEvent):
            outcome = archive_event(update)
            gaps.note(update.update_id)
        else:
            # Its update_id is recorded with it (``gaps``), in the same commit where it can.
            queuer = FetchQueuer.for_(update)
            outcome = archive(
                update,
                update_id=update.update_id,
                then=None if queuer is None else queuer.note,
            )
            if queuer is not None:
                queuer.enqueue()
    except UnicodeEncodeError:
        # A lone UTF-16 surrogate escaped in the JSON: not text, and never sent by Telegram.
        return _refused(update, context, "the update holds text that is not valid Unicode")
    except RecordRefused as exc:
        # The store refused the values themselves: every redelivery would fail the same way,
        # and a 5xx would hold back the chat's later updates for 24 hours.
        logger.warning("update refused by the store: %s", exc, extra=dict(context))
        return _refused(update, context, "the update holds values the archive cannot store")
    except (StoreError, CryptoError, DatabaseError, *ENQUEUE_FAILURES) as exc:
        # CryptoError includes the keyring being down and a chat key it cannot unwrap (a
        # disabled KEK version): an operator's problem, so Telegram should retry later. The
        # same for a file's fetch that could not be queued: the redelivery queues it.
        return _unavailable(update, context, exc, "update not archived")
    metrics.UPDATES.labels(update.update_kind, outcome.value).inc()
    if outcome is not PutOutcome.DUPLICATE:
        metrics.LAST_ARCHIVED.set(time.time())
    context.update(
        outcome=outcome.value, processing_ms=round((time.perf_counter() - started) * 1000, 1)
    )
    return Intake(outcome.value, update=update, context=context)


def _refused(
    update: IncomingMessage | IncomingEvent, context: dict[str, object], reason: str
) -> Intake:
    metrics.UPDATES.labels(update.update_kind, INVALID).inc()
    context["outcome"] = INVALID
    return Intake(INVALID, reason, update, context)


def _unavailable(
    update: IncomingMessage | IncomingEvent | IgnoredUpdate,
    context: dict[str, object],
    exc: Exception,
    what: str,
) -> Intake:
    kind = update.kind if isinstance(update, IgnoredUpdate) else update.update_kind
    metrics.UPDATES.labels(kind, UNAVAILABLE).inc()
    context.update(outcome=UNAVAILABLE, error=type(exc).__name__)
    # A database no one migrated: say so and how to fix it (our own words, no content).
    said = str(exc) if isinstance(exc, NotMigrated) else type(exc).__name__
    logger.error("%s: %s", what, said, extra=dict(context))
    return Intake(UNAVAILABLE, type(exc).__name__, update, context)
