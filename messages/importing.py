"""Archiving history from elsewhere (a Telegram Desktop export, the Flask prototype): each
message, as the Bot API message the webhook would have carried, through ``archive()``.

An import holds a message to the webhook's rules: what the webhook would answer 400 is not
archived but skipped, and every skipped message is named (its chat and id, or where it sits)
with the reason, never its content."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from groupie import strictjson
from messages.services import archive, sealed_plaintext
from messages.stores.records import PutOutcome, RecordRefused
from messages.telegram import MAX_UPDATE_DEPTH, IncomingMessage, InvalidMessage, parse_message


@dataclass
class Tally:
    """What an import did: imported, already present, skipped (each with its reason)."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)

    def counted(self, *, dry_run: bool) -> str:
        """ "7 imported, 0 already present, 1 skipped": the middle of an import's summary."""
        counts = self.counts
        verb = "would be imported" if dry_run else "imported"
        return (
            f"{counts['imported']} {verb}, {counts['present']} already present, "
            f"{counts['skipped']} skipped"
        )

    def skipped_lines(self) -> list[str]:
        """One line per skipped message, for stderr."""
        return [f"  skipped {reason}" for reason in self.reasons]

    def skip(self, reason: str) -> None:
        """``reason``: "chat C, message M: why", naming the message and the rule, no content."""
        self.counts["skipped"] += 1
        self.reasons.append(reason)

    def archive(
        self, message: dict[str, Any], where: str, *, dry_run: bool
    ) -> IncomingMessage | None:
        """Archives one message (a dry run only reads it); returns it as archived (None if
        skipped or a dry run). Raises StoreError or CryptoError for an outage: the caller
        stops, and a rerun continues."""
        is_edit = bool(message.get("edit_date"))
        try:
            incoming = parse_message(
                0, "edited_message" if is_edit else "message", message, is_edit=is_edit
            )
        except InvalidMessage as exc:
            self.skip(f"{where}: {exc}")
            return None
        refused = _beyond_the_webhook(message)
        if refused:
            self.skip(f"{where}: {refused}")
            return None
        if dry_run:
            self.counts["imported"] += 1
            return None
        try:
            outcome = archive(incoming)
        except RecordRefused:
            self.skip(f"{where}: it holds values the archive cannot store")
            return None
        self.counts["present" if outcome is PutOutcome.DUPLICATE else "imported"] += 1
        return incoming


def _beyond_the_webhook(message: dict[str, Any]) -> str:
    """Why the webhook would refuse ``message`` in an Update, beyond its fields ("" if it
    would not): nested too deep, text that is not Unicode, or larger than its body limit."""
    if strictjson.depth(message) >= MAX_UPDATE_DEPTH:
        return strictjson.too_deep(MAX_UPDATE_DEPTH - 1)
    try:
        size = len(sealed_plaintext(message))
    except UnicodeEncodeError:
        # A lone UTF-16 surrogate escaped in the JSON: not text, and never sent by Telegram.
        return "it holds text that is not valid Unicode"
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if size > limit:
        return f"{size:,} bytes, more than the {limit:,} the webhook accepts in an update"
    return ""
