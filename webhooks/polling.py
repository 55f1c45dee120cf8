"""getUpdates long polling into the same archive() path the webhook takes, for a box without a
public HTTPS URL (a laptop, a server behind NAT).

Nothing acknowledged is lost: Telegram forgets an update only when a later getUpdates asks for
an offset past it, and the offset moves past an update only once archive() has committed it
(or it can never be archived: not an Update we read, values the store refuses). A crash or a
kill re-reads from the last offset given, and a replay is a duplicate, never a second copy. An
outage of ours (store, keyring) stops the batch where it is and retries after a backoff.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from messages.stores.records import PutOutcome
from webhooks.botapi import BotApi, BotApiError
from webhooks.intake import IGNORED, INVALID, UNAVAILABLE, take
from webhooks.updates import ARCHIVED_EVENTS, ARCHIVED_UPDATES

logger = logging.getLogger(__name__)
# Exactly the kinds groupie archives: Telegram sends chat_member, my_chat_member and the
# reactions only when asked (and reactions only to a bot that is an administrator).
ALLOWED_UPDATES = [*ARCHIVED_UPDATES, *ARCHIVED_EVENTS]
MAX_BACKOFF_SECONDS = 60.0


class PollingRefused(Exception):
    """Polling cannot start or go on (a webhook is set, another poller runs, a bad token)."""


@dataclass
class Counts:
    archived: int = 0
    duplicates: int = 0
    skipped: int = 0  # never archivable: ignored kinds, invalid updates
    batches: int = 0
    errors: int = 0


@dataclass
class Poller:
    api: BotApi
    timeout: int = 50  # Telegram's long-poll seconds
    limit: int = 100
    stop: threading.Event = field(default_factory=threading.Event)
    counts: Counts = field(default_factory=Counts)
    offset: int | None = None

    def run(self, *, once: bool = False) -> Counts:
        """Polls until ``stop`` is set (or one batch with ``once``); then confirms to Telegram
        what was archived, so that the next start does not read it again."""
        backoff = 1.0
        while not self.stop.is_set():
            try:
                updates = self.api.call(
                    "getUpdates",
                    offset=self.offset,
                    timeout=0 if once else self.timeout,
                    limit=self.limit,
                    allowed_updates=ALLOWED_UPDATES,
                )
                backoff = 1.0
            except BotApiError as exc:
                if exc.status in (401, 404, 409):
                    raise PollingRefused(str(exc)) from None
                backoff = self._failed(f"getUpdates failed: {exc}", backoff)
                continue
            self.counts.batches += 1
            if not self._archive_batch(updates):
                backoff = self._failed("archiving paused: the archive is unavailable", backoff)
                continue
            if once:
                break
        self._confirm()
        return self.counts

    def _archive_batch(self, updates: list[dict[str, Any]]) -> bool:
        """Archives in order, moving the offset past each update done; False on an outage."""
        for raw in updates:
            if self.stop.is_set():
                return True  # the rest is read again on the next start
            if not self._archive_one(raw):
                return False
            self.offset = int(raw["update_id"]) + 1
        return True

    def _archive_one(self, raw: dict[str, Any]) -> bool:
        """The webhook's own intake; False on an outage (nothing stored, read again later)."""
        intake = take(raw)
        if intake.outcome == UNAVAILABLE:
            return False
        if settings.LOG_FORMAT == "text" and intake.outcome != INVALID:
            # A terminal (make run) shows a line per update, as the webhook's access line
            # does: kind, ids and outcome, never content. Production's JSON logs count them
            # in groupie_updates_total instead.
            logger.info("polled update: %s", intake.outcome, extra=intake.context)
        if intake.outcome in (INVALID, IGNORED):
            if intake.outcome == INVALID:
                logger.warning(
                    "update skipped: %s", intake.reason, extra={"update_id": raw.get("update_id")}
                )
            self.counts.skipped += 1
        elif intake.outcome == PutOutcome.DUPLICATE.value:
            self.counts.duplicates += 1
        else:
            self.counts.archived += 1
        return True

    def _failed(self, message: str, backoff: float) -> float:
        self.counts.errors += 1
        logger.warning("%s; retrying in %.0f s", message, backoff)
        self.stop.wait(backoff)
        return min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _confirm(self) -> None:
        if self.offset is None:
            return
        try:
            self.api.call("getUpdates", offset=self.offset, timeout=0, limit=1)
        except BotApiError as exc:
            logger.warning("could not confirm the last updates to Telegram: %s", exc)
