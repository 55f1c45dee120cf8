"""A small client for Telegram's Bot API: JSON over HTTPS, one method per call.

The token is part of every URL Telegram serves (``/bot<token>/<method>``), so nothing here puts
a URL into an exception or a log line: errors name the method, the HTTP status and Telegram's
``description`` only. ``TELEGRAM_API_URL`` points it elsewhere (the tests' loopback peer).
Standard library only: the service needs no HTTP client dependency for a handful of calls.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings

TIMEOUT_SECONDS = 10.0


class BotApiError(Exception):
    """A Bot API call failed: Telegram said no, or could not be reached."""

    def __init__(self, method: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{method}: {message}")
        self.method, self.status = method, status


class NoToken(BotApiError):
    pass


@dataclass(frozen=True)
class WebhookInfo:
    url: str
    pending_update_count: int
    max_connections: int | None
    last_error_date: int | None
    last_error_message: str | None
    allowed_updates: list[str] | None

    @classmethod
    def from_api(cls, result: dict[str, Any]) -> WebhookInfo:
        return cls(
            url=str(result.get("url") or ""),
            pending_update_count=int(result.get("pending_update_count") or 0),
            max_connections=result.get("max_connections"),
            last_error_date=result.get("last_error_date"),
            last_error_message=result.get("last_error_message"),
            allowed_updates=result.get("allowed_updates"),
        )


class BotApi:
    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.token = token if token is not None else settings.TELEGRAM_TOKEN
        self.base_url = (base_url or settings.TELEGRAM_API_URL).rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"TELEGRAM_API_URL must be an http(s) URL, not {self.base_url!r}")
        self.timeout = timeout

    def call(self, method: str, **params: Any) -> Any:
        """Calls ``method`` with ``params`` as a JSON body; returns Telegram's ``result``."""
        if not self.token:
            raise NoToken(method, "TELEGRAM_TOKEN is not set")
        body = json.dumps({k: v for k, v in params.items() if v is not None}).encode()
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            f"{self.base_url}/bot{self.token}/{method}",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - as above
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise BotApiError(method, _description(exc), status=exc.code) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BotApiError(method, f"Telegram unreachable ({type(reason).__name__})") from None
        except ValueError:
            raise BotApiError(method, "Telegram answered something other than JSON") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise BotApiError(method, str(answer.get("description") or "not ok"))
        return answer.get("result")

    def get_webhook_info(self) -> WebhookInfo:
        return WebhookInfo.from_api(self.call("getWebhookInfo"))


def _description(error: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(error.read())
        return f"HTTP {error.code}: {answer.get('description') or 'no description'}"
    except (ValueError, AttributeError, OSError):
        return f"HTTP {error.code}"
