"""A small client for Telegram's Bot API: JSON over HTTPS, one method per call.

The token is part of every URL Telegram serves (``/bot<token>/<method>``), so nothing here puts
a URL into an exception or a log line: errors name the method, the HTTP status and Telegram's
``description`` only. ``TELEGRAM_API_URL`` points it elsewhere (the tests' loopback peer).
Standard library only, rather than httpx or a Telegram framework: groupie makes a handful of
JSON calls (webhook management, getUpdates, getWebhookInfo), and urllib with timeouts and
retries does that without adding a runtime dependency to the image.
"""

from __future__ import annotations

import json
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

TIMEOUT_SECONDS = 10.0
DOWNLOAD_TIMEOUT_SECONDS = 60.0  # between two reads of a download, not for all of it
CHUNK_BYTES = 64 * 1024


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
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token if token is not None else settings.TELEGRAM_TOKEN
        self.base_url = (base_url or settings.TELEGRAM_API_URL).rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"TELEGRAM_API_URL must be an http(s) URL, not {self.base_url!r}")
        self.timeout, self.attempts, self.sleep = timeout, attempts, sleep

    def call(self, method: str, **params: Any) -> Any:
        """Calls ``method`` with ``params`` as a JSON body; returns Telegram's ``result``.

        Retries what Telegram says to retry: 429 after its ``retry_after``, 5xx and an
        unreachable Telegram with backoff, ``attempts`` times in all. 401 (a wrong token) and
        409 (a webhook set while polling, or a second poller) say so plainly."""
        if not self.token:
            raise NoToken(method, "TELEGRAM_TOKEN is not set")
        body = json.dumps({k: v for k, v in params.items() if v is not None}).encode()
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(method, body)
            except _Retry as retry:
                if attempt == self.attempts:
                    raise BotApiError(method, retry.reason, status=retry.status) from None
                self.sleep(retry.after if retry.after is not None else 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, body: bytes) -> Any:
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            f"{self.base_url}/bot{self.token}/{method}",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        # Long polls (getUpdates' timeout) need the socket to wait longer than they do.
        timeout = self.timeout + float(json.loads(body).get("timeout") or 0)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _failure(method, exc) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retry(f"Telegram unreachable ({type(reason).__name__})") from None
        except ValueError:
            raise BotApiError(method, "Telegram answered something other than JSON") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise BotApiError(method, str(answer.get("description") or "not ok"))
        return answer.get("result")

    def get_webhook_info(self) -> WebhookInfo:
        return WebhookInfo.from_api(self.call("getWebhookInfo"))

    def get_me(self) -> dict[str, Any]:
        """The bot itself (getMe): ``id``, ``username``, ``can_read_all_group_messages`` (False
        while privacy mode is on: then it sees only commands, replies to it and mentions)."""
        result = self.call("getMe")
        if not isinstance(result, dict) or not isinstance(result.get("id"), int):
            raise BotApiError("getMe", "Telegram gave no bot id")
        return result

    def get_chat_member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """A ChatMember: ``status`` (creator, administrator, member, restricted, left, kicked)
        and its rights."""
        result = self.call("getChatMember", chat_id=chat_id, user_id=user_id)
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise BotApiError("getChatMember", "Telegram gave no status")
        return result

    def get_file(self, file_id: str) -> TelegramFile:
        result = self.call("getFile", file_id=file_id)
        path = result.get("file_path") if isinstance(result, dict) else None
        if not isinstance(path, str) or not path:
            raise BotApiError("getFile", "Telegram gave no file_path (the file cannot be fetched)")
        if any(unicodedata.category(c) == "Cc" for c in path):
            # No URL can hold one (urllib raises InvalidURL, quoting the URL and so the token):
            # a failure for good, as a 4xx from Telegram is.
            raise BotApiError(
                "getFile",
                "Telegram gave a file_path with control characters (it cannot be fetched)",
                status=400,
            )
        size = result.get("file_size")
        return TelegramFile(path, size if isinstance(size, int) else None)

    @contextmanager
    def download(
        self, file_path: str, *, seconds: float | None = None
    ) -> Iterator[Iterator[bytes]]:
        """The file's bytes, in chunks as they arrive (never the whole file in memory), and
        a BotApiError once ``seconds`` have passed before the last one: however slowly a peer
        sends, a download ends by then (or at most that long after the last byte received).

        A relative path is fetched from ``<base>/file/bot<token>/<path>``. An absolute one is
        what a local Bot API server in ``--local`` mode answers: a file on its disk, read in
        place, and only inside ``TELEGRAM_BOT_API_FILES`` (that server's ``--dir``, mounted
        here), so that no answer can make groupie read and keep another file of this host."""
        if Path(file_path).is_absolute():
            with _local_file(file_path) as local:
                yield iter(lambda: local.read(CHUNK_BYTES), b"")
            return
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            f"{self.base_url}/file/bot{self.token}/{file_path}"
        )
        deadline = None if seconds is None else time.monotonic() + seconds
        # The socket's timeout bounds each read; the deadline, checked after each, the whole.
        timeout = (
            DOWNLOAD_TIMEOUT_SECONDS if seconds is None else min(seconds, DOWNLOAD_TIMEOUT_SECONDS)
        )
        try:
            response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            exc.close()
            raise BotApiError("download", f"HTTP {exc.code}", status=exc.code) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BotApiError(
                "download", f"Telegram unreachable ({type(reason).__name__})"
            ) from None
        with response:
            length = response.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
            yield _chunks(response, size, deadline)


@dataclass(frozen=True)
class TelegramFile:
    file_path: str
    file_size: int | None


def _chunks(response: Any, length: int | None, deadline: float | None) -> Iterator[bytes]:
    """The body in chunks as they arrive (read1: a peer sending slowly does not keep one read
    waiting for a whole chunk); a body shorter than its Content-Length (the connection
    dropped: http.client then just ends) is an error, never a whole file, and so is one
    still arriving at ``deadline`` (time.monotonic)."""
    received = 0
    started = time.monotonic()
    try:
        while chunk := response.read1(CHUNK_BYTES):
            received += len(chunk)
            if deadline is not None and time.monotonic() > deadline:
                raise BotApiError(
                    "download",
                    f"too slow: {received:,} bytes in {time.monotonic() - started:.0f} s "
                    "(GROUPIE_MEDIA_FETCH_SECONDS, GROUPIE_MEDIA_MIN_RATE)",
                )
            yield chunk
    except (TimeoutError, OSError) as exc:
        raise BotApiError("download", f"interrupted ({type(exc).__name__})") from None
    if length is not None and received != length:
        raise BotApiError("download", f"cut short: {received:,} of {length:,} bytes")


@contextmanager
def _local_file(file_path: str) -> Iterator[BinaryIO]:
    root = settings.TELEGRAM_BOT_API_FILES
    path = Path(file_path).resolve()
    if not root or not path.is_relative_to(Path(root).resolve()):
        raise BotApiError(
            "getFile",
            "the Bot API answered a path on its own disk outside TELEGRAM_BOT_API_FILES "
            "(set it to the local Bot API server's --dir, mounted here)",
            status=400,
        )
    try:
        with path.open("rb") as local:
            yield local
    except OSError as exc:
        raise BotApiError("download", f"cannot read the local file ({exc.strerror})") from None


class _Retry(Exception):
    """Worth another try: Telegram was unreachable, overloaded or asked us to wait."""

    def __init__(self, reason: str, *, status: int | None = None, after: float | None = None):
        super().__init__(reason)
        self.reason, self.status, self.after = reason, status, after


def _failure(method: str, error: urllib.error.HTTPError) -> Exception:
    try:
        answer = json.loads(error.read())
    except (ValueError, AttributeError, OSError):
        answer = {}
    description = answer.get("description") or "no description"
    said = f"HTTP {error.code}: {description}"
    if error.code == 429:
        after = (answer.get("parameters") or {}).get("retry_after")
        return _Retry(said, status=429, after=float(after) if after is not None else None)
    if error.code >= 500:
        return _Retry(said, status=error.code)
    if error.code == 401:
        said += " (Telegram refused the bot token: check TELEGRAM_TOKEN)"
    elif error.code == 409:
        said += (
            " (a webhook is set while polling, or another poll_updates runs for this bot: "
            "delete_webhook first, or stop the other poller)"
        )
    return BotApiError(method, said, status=error.code)
