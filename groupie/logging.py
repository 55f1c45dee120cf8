"""Logging: Cloud Logging's structured JSON on stdout, or readable text on a terminal.

Every line is one JSON object (``GROUPIE_LOG_FORMAT=json``, the default) with the fields Cloud
Logging reads: ``severity``, ``message``, ``time``, ``logging.googleapis.com/trace`` and
``/spanId`` (from the request's ``traceparent`` or ``X-Cloud-Trace-Context``), ``httpRequest`` on
access lines, plus ``logger``, ``request_id`` and the structured context a call passes in
``extra`` (``chat_id``, ``update_id``, ``outcome``, ``processing_ms``, ...).

Nothing a person wrote may reach a log line. Three guards:

- callers log ids, kinds, outcomes and error *types*, never message objects or exception text
  from a driver;
- the formatter keeps only the ``extra`` fields named in ``CONTEXT_FIELDS``: anything else a
  call passes is dropped, not printed;
- ``RedactSecretsFilter`` removes the secret segment of the legacy ``/webhook/<secret>`` route
  from every message.

``tests/end_to_end/test_logs_hold_no_content.py`` drives the error paths with marker strings
in every content field and finds none in any line.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# The legacy Telegram route carries the webhook secret in its path; Django's request logger
# and any access log would otherwise print it.
_LEGACY_WEBHOOK_PATH = re.compile(r"/webhook/[^/\s\"'?]+")

# What a call may add to a line through ``extra``: ids, kinds, outcomes, timings, counts.
CONTEXT_FIELDS = frozenset(
    {
        "httpRequest",
        "chat_id",
        "message_id",
        "update_id",
        "update_kind",
        "outcome",
        "processing_ms",
        "route",
        "command",
        "check",
        "error",
        "count",
        "api_key_name",
    }
)
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=\d)?$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    trace_id: str | None = None
    span_id: str | None = None


CURRENT: ContextVar[RequestContext | None] = ContextVar("groupie_request", default=None)


def request_context(headers: Any) -> RequestContext:
    """The request's id (its ``X-Request-ID`` when well formed, else a new one) and the trace
    it belongs to (W3C ``traceparent`` first, then Google's ``X-Cloud-Trace-Context``)."""
    given = headers.get("X-Request-ID") or ""
    request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(16)
    trace_id = span_id = None
    if match := _TRACEPARENT.match(headers.get("traceparent") or ""):
        trace_id, span_id = match.group(1), match.group(2)
    elif match := _CLOUD_TRACE.match(headers.get("X-Cloud-Trace-Context") or ""):
        trace_id = match.group(1).lower()
        if match.group(2) and int(match.group(2)) < 2**64:
            span_id = f"{int(match.group(2)):016x}"  # Cloud Logging wants 16 hex digits
    return RequestContext(request_id, trace_id, span_id)


def redact(text: str) -> str:
    """``text`` with the legacy webhook route's secret segment replaced."""
    return _LEGACY_WEBHOOK_PATH.sub("/webhook/[redacted]", text)


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
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class CloudLoggingFormatter(JsonFormatter):
    """One JSON object per line in Cloud Logging's structured format."""

    def __init__(self, *args: Any, project: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["severity"] = record.levelname
        log_data["message"] = record.getMessage()
        if record.exc_info or message_dict.get("exc_info"):
            # Error Reporting reads a stack trace from the message itself.
            trace = message_dict.get("exc_info") or self.formatException(record.exc_info)
            log_data["message"] = f"{log_data['message']}\n{trace}"
        log_data["time"] = (
            datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")[:-6]
            + "Z"
        )
        log_data["logger"] = record.name
        context = CURRENT.get()
        if context is not None:
            log_data["request_id"] = context.request_id
            if context.trace_id:
                log_data[TRACE_FIELD] = (
                    f"projects/{self.project}/traces/{context.trace_id}"
                    if self.project
                    else context.trace_id
                )
            if context.span_id:
                log_data[SPAN_FIELD] = context.span_id
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                log_data[name] = value


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal: time, level, logger, request id, message, context."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = CURRENT.get()
        tags = [f"request_id={context.request_id[:8]}"] if context else []
        tags += [
            f"{name}={record.__dict__[name]}"
            for name in sorted(CONTEXT_FIELDS - {"httpRequest"})
            if record.__dict__.get(name) is not None
        ]
        return f"{line}  [{' '.join(tags)}]" if tags else line


# Commands that run until stopped: their log lines are what they have to show.
LONG_RUNNING_COMMANDS = frozenset({"runserver", "db_worker", "run_tasks", "poll_updates"})


def quiet_one_off_commands(argv: list[str], environ: MutableMapping[str, str]) -> None:
    """For manage.py, before Django starts: with text logs (a terminal), a one-off command
    (key_status, rotate_kek, an import) prints only its own lines, not its INFO log lines
    ("rotate_kek finished: ok", timestamped) between them. Warnings and errors still show; JSON
    logs (production, a Cloud Run job) keep every line; a GROUPIE_LOG_LEVEL set wins."""
    command = argv[1] if len(argv) > 1 else ""
    if environ.get("GROUPIE_LOG_FORMAT") == "text" and command not in LONG_RUNNING_COMMANDS:
        environ.setdefault("GROUPIE_LOG_LEVEL", "WARNING")


def logging_config(*, log_format: str, level: str, project: str) -> dict[str, Any]:
    """The LOGGING dict for settings, and for gunicorn's own logs (gunicorn.conf.py)."""
    formatter: dict[str, Any] = (
        {"()": "groupie.logging.CloudLoggingFormatter", "project": project}
        if log_format == "json"
        else {
            "()": "groupie.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
        "formatter": "groupie",
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "groupie.logging.RedactSecretsFilter"}},
        "formatters": {"groupie": formatter},
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            # groupie.access writes one line per request; Django's own 4xx/5xx warnings
            # would repeat each of them (and print raw paths).
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            # Never below these, whatever GROUPIE_LOG_LEVEL says: django.template's DEBUG
            # lines print whole template contexts (decrypted messages, names, titles), and
            # django.db.backends' print SQL parameters.
            "django.template": {"level": "WARNING"},
            "django.db.backends": {"level": "INFO"},
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
