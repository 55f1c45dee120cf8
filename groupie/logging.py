"""Log filters: nothing secret leaves the process in a log line."""

from __future__ import annotations

import logging
import re

# The legacy Telegram route carries the webhook secret in its path; Django's request logger
# and any access log would otherwise print it.
_LEGACY_WEBHOOK_PATH = re.compile(r"/webhook/[^/\s\"'?]+")


class RedactSecretsFilter(logging.Filter):
    """Replaces the secret segment of ``/webhook/<secret>`` in every formatted record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A malformed log call: drop its arguments rather than crash the caller or let
            # logging's error report print them raw.
            record.msg, record.args = (
                _LEGACY_WEBHOOK_PATH.sub(
                    "/webhook/[redacted]", f"{record.msg} (unformattable log arguments)"
                ),
                (),
            )
            return True
        redacted = _LEGACY_WEBHOOK_PATH.sub("/webhook/[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
