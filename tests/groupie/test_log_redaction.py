"""The legacy webhook secret never reaches a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from groupie.logging import RedactSecretsFilter

SECRET = "s3cr3t"


def record(msg: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("django.request", level, __file__, 1, msg, args or None, None)


def filtered(rec: logging.LogRecord) -> str:
    assert RedactSecretsFilter().filter(rec) is True
    return rec.getMessage()


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("Forbidden: /webhook/s3cr3t", (), "Forbidden: /webhook/[redacted]"),
        ("Forbidden: /webhook/s3cr3t/", (), "Forbidden: /webhook/[redacted]/"),
        ("Forbidden: %s", ("/webhook/s3cr3t",), "Forbidden: /webhook/[redacted]"),
        ("Forbidden: %s", ("/webhook/s3cr3t/",), "Forbidden: /webhook/[redacted]/"),
        ("%s: %s", ("Forbidden", "/webhook/s3cr3t"), "Forbidden: /webhook/[redacted]"),
        (
            '"%s" %s %s',
            ("POST /webhook/s3cr3t HTTP/1.1", 403, 0),
            '"POST /webhook/[redacted] HTTP/1.1" 403 0',
        ),
        ("Forbidden: /webhook/s3cr3t?x=1", (), "Forbidden: /webhook/[redacted]?x=1"),
        (
            "Forbidden: '/webhook/s3cr3t'",
            (),
            "Forbidden: '/webhook/[redacted]'",
        ),
    ],
    ids=[
        "plain",
        "trailing-slash",
        "args",
        "args-trailing-slash",
        "django-request-style",
        "access-log-style",
        "query-string",
        "quoted",
    ],
)
def test_it_removes_the_secret_from_a_legacy_webhook_path(
    msg: str, args: tuple[object, ...], expected: str
) -> None:
    message = filtered(record(msg, *args))
    assert message == expected
    assert SECRET not in message


def test_it_removes_every_occurrence() -> None:
    message = filtered(record("%s then %s", "/webhook/s3cr3t", "/webhook/other-secret_2/"))
    assert message == "/webhook/[redacted] then /webhook/[redacted]/"


def test_a_redacted_record_formats_the_same_every_time() -> None:
    rec = record("Forbidden: %s", "/webhook/s3cr3t")
    RedactSecretsFilter().filter(rec)
    assert rec.getMessage() == rec.getMessage() == "Forbidden: /webhook/[redacted]"
    assert SECRET not in str(rec.args)


def test_a_percent_sign_left_in_a_redacted_message_does_not_break_formatting() -> None:
    message = filtered(record("%s at 100%% of %s", "Forbidden", "/webhook/s3cr3t"))
    assert message == "Forbidden at 100% of /webhook/[redacted]"


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("Not Found: /healthz", ()),
        ("Forbidden: %s", ("/telegram/webhook/",)),
        ("Forbidden: /webhook/", ()),
        ("%s updates in %d ms", ("webhook", 12)),
        ("100%% done", ()),
        ("dict args %(path)s", ({"path": "/metrics"},)),
    ],
)
def test_it_leaves_other_messages_alone(msg: str, args: tuple[object, ...]) -> None:
    rec = record(msg, *args)
    before = rec.getMessage()
    original_msg, original_args = rec.msg, rec.args
    assert RedactSecretsFilter().filter(rec) is True
    assert rec.getMessage() == before
    assert rec.msg is original_msg
    assert rec.args is original_args


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.log_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_a_handler_with_the_filter_never_writes_the_secret(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    logger.warning("Forbidden: %s", "/webhook/s3cr3t")
    logger.warning("Forbidden: /webhook/s3cr3t/")
    logger.info("Not Found: %s", "/healthz")
    output = stream.getvalue()
    assert SECRET not in output
    assert output.splitlines() == [
        "WARNING Forbidden: /webhook/[redacted]",
        "WARNING Forbidden: /webhook/[redacted]/",
        "INFO Not Found: /healthz",
    ]


def test_the_filter_is_on_the_console_handler_of_the_settings() -> None:
    from django.conf import settings

    console = settings.LOGGING["handlers"]["console"]
    assert "redact" in console["filters"]
    assert settings.LOGGING["filters"]["redact"]["()"] == "groupie.logging.RedactSecretsFilter"


def test_a_badly_formatted_record_does_not_make_the_logging_call_raise(
    logged: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", False)
    logger, stream = logged
    logger.warning("%s and %s", "one")
    logger.warning("after: %s", "/webhook/s3cr3t")
    assert stream.getvalue().splitlines()[-1] == "WARNING after: /webhook/[redacted]"
