"""Archiving history from elsewhere (a Telegram Desktop export, the Flask prototype): each
message, as the Bot API message the webhook would have carried, through ``archive()``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from messages.services import archive
from messages.stores.records import PutOutcome, RecordRefused
from messages.telegram import IncomingMessage, InvalidMessage, parse_message


@dataclass
class Tally:
    """What an import did: imported, already present, skipped (with the reasons)."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)

    SHOWN_REASONS = 5

    def counted(self, *, dry_run: bool) -> str:
        """ "7 imported, 0 already present, 1 skipped": the middle of an import's summary."""
        counts = self.counts
        verb = "would be imported" if dry_run else "imported"
        return (
            f"{counts['imported']} {verb}, {counts['present']} already present, "
            f"{counts['skipped']} skipped"
        )

    def shown_reasons(self) -> list[str]:
        """The first few skip reasons, as lines for stderr."""
        return [f"  skipped: {reason}" for reason in self.reasons[: self.SHOWN_REASONS]]

    def skip(self, reason: str) -> None:
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
        if dry_run:
            self.counts["imported"] += 1
            return None
        try:
            outcome = archive(incoming)
        except (RecordRefused, UnicodeEncodeError) as exc:
            self.skip(f"{where}: {type(exc).__name__}")
            return None
        self.counts["present" if outcome is PutOutcome.DUPLICATE else "imported"] += 1
        return incoming
