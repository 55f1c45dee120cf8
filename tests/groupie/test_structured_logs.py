"""Log lines are Cloud Logging's structured JSON: severity, time, request id, trace and span,
httpRequest on access lines, and the update's ids and outcome; or readable text."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from groupie.logging import CloudLoggingFormatter, RedactSecretsFilter, TextFormatter
from tests.conftest import Webhook, load_update

LOGGERS = ("", "django", "django.request")  # the root, and those that do not propagate
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.json() if line["logger"] == "groupie.access"]


def capture(formatter: logging.Formatter) -> Iterator[Captured]:
    """Every line the named loggers write while the test runs, through ``formatter``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecretsFilter())
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield Captured(stream)
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture
def logs() -> Iterator[Captured]:
    yield from capture(CloudLoggingFormatter(project="groupie-prod"))


def test_an_archived_update_logs_one_structured_access_line(
    client: Client, webhook: Webhook, logs: Captured
) -> None:
    update = load_update("text_message")
    response = client.post(
        "/telegram/webhook/",
        data=json.dumps(update),
        content_type="application/json",
        headers={
            "X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret_0123456789",
            "X-Request-ID": "req-42",
            "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
            "User-Agent": "TelegramBot (like TwitterBot)",
        },
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-42"
    (line,) = logs.access()
    assert line["severity"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["time"])
    assert line["request_id"] == "req-42"
    assert line["logging.googleapis.com/trace"] == f"projects/groupie-prod/traces/{TRACE}"
    assert line["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert line["message"].startswith("POST telegram-webhook 200 ")
    assert line["route"] == "telegram-webhook"
    message = update["message"]
    assert line["chat_id"] == message["chat"]["id"]
    assert line["message_id"] == message["message_id"]
    assert line["update_id"] == update["update_id"]
    assert (line["update_kind"], line["outcome"]) == ("message", "created")
    assert line["processing_ms"] >= 0
    http = line["httpRequest"]
    assert http["requestMethod"] == "POST"
    assert http["requestUrl"] == "/telegram/webhook/"
    assert http["status"] == 200
    assert re.fullmatch(r"\d+\.\d{6}s", http["latency"])
    assert http["userAgent"] == "TelegramBot (like TwitterBot)"
    assert http["remoteIp"] == "127.0.0.1"
    assert int(http["responseSize"]) == len(response.content)


def test_google_trace_header_and_a_generated_request_id(
    client: Client, db: None, logs: Captured
) -> None:
    response = client.get(
        "/healthz",
        headers={
            "X-Cloud-Trace-Context": f"{TRACE.upper()}/12345;o=1",
            "X-Request-ID": "not an id: it has spaces",
        },
    )
    (line,) = logs.access()
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert response["X-Request-ID"] == line["request_id"]
    assert line["logging.googleapis.com/trace"].endswith(f"/traces/{TRACE}")
    assert line["logging.googleapis.com/spanId"] == f"{12345:016x}"


def test_query_strings_and_the_legacy_secret_stay_out_of_the_url(
    client: Client, webhook: Webhook, api: Any, logs: Captured
) -> None:
    api.get("/api/v1/messages/?user=424242&chat=-100777")
    webhook.post(load_update("text_message"), path="/webhook/test-webhook-secret_0123456789")
    urls = [line["httpRequest"]["requestUrl"] for line in logs.access()]
    assert urls == ["/api/v1/messages/", "/webhook/[redacted]"]
    assert "test-webhook-secret_0123456789" not in "\n".join(logs.lines())
    assert "424242" not in "\n".join(logs.lines())


def test_fields_a_call_passes_are_kept_only_when_they_are_context(logs: Captured) -> None:
    logging.getLogger("groupie.test").warning(
        "update refused", extra={"chat_id": -100, "text": "a message's words", "title": "T"}
    )
    (line,) = logs.json()
    assert line["chat_id"] == -100
    assert "text" not in line
    assert "title" not in line
    assert line["severity"] == "WARNING"


def test_an_exception_s_stack_trace_is_in_the_message(logs: Captured) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("groupie.test").exception("failed")
    (line,) = logs.json()
    assert line["severity"] == "ERROR"
    assert line["message"].startswith("failed\nTraceback (most recent call last):")


def test_text_lines_for_a_terminal(client: Client, db: None) -> None:
    formatter = TextFormatter("%(levelname)s %(name)s %(message)s")
    for captured in capture(formatter):
        client.get("/healthz", headers={"X-Request-ID": "abcdef0123"})
        (line,) = captured.lines()
    assert line.startswith("INFO groupie.access GET healthz 200 ")
    assert line.endswith("[request_id=abcdef01 route=healthz]")
