"""A loopback Bot API server: Telegram's HTTP protocol on 127.0.0.1, for the real client. The
tests run it, and so does load_demo (to serve the demo's photos, voice note and document).

It answers ``POST /bot<token>/<method>`` (and GET) with Telegram's envelope, ``{"ok": true,
"result": ...}``; records every call (method, token, JSON params); refuses a token other than
its own with Telegram's 401; and answers an error on demand (``fail(method, status,
description, times=, retry_after=)``). It keeps Telegram's state for the methods groupie uses:
``setWebhook``/``deleteWebhook``/``getWebhookInfo``, and ``getUpdates`` over ``updates``
with offsets (an update below the offset asked for is confirmed and dropped; 409 while a
webhook is set), and files: ``add_file`` makes one that ``getFile`` names and
``GET /file/bot<token>/<path>`` serves (``fail("download", ...)`` makes downloads fail;
``drip(seconds)`` makes them send one byte every ``seconds``, as a slow or hostile peer).
``getMe`` answers ``me`` (privacy mode on, as Telegram's default: ``can_read_all_group_messages``
false); ``getChatMember`` answers ``members[(chat_id, user_id)]`` (a status string or a whole
ChatMember), a chat not there with Telegram's 400 "chat not found", and one whose status is
"kicked" for the bot itself with Telegram's 403. ``results[method]`` overrides any answer.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:TEST-token-for-the-loopback-peer"  # noqa: S105 - a loopback peer, not a secret
BOT_ID = 123456  # a bot's id is its token's first part


def send_json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
    """Answers ``handler``'s request with ``body`` as JSON."""
    encoded = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(encoded)))
    handler.end_headers()
    handler.wfile.write(encoded)


@dataclass
class Call:
    method: str
    token: str
    params: dict[str, Any]


@dataclass
class BotApiPeer:
    token: str = TOKEN
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, tuple[int, str, int, int | None]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id: (path, bytes)
    drips: list[float] = field(default_factory=list)  # seconds per byte of the next downloads
    me: dict[str, Any] = field(
        default_factory=lambda: {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Groupie Archive",
            "username": "groupie_archive_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
    )
    members: dict[tuple[int, int], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                peer._answer(self, json.loads(raw) if raw else {})

            def do_GET(self) -> None:
                if self.path.startswith("/file/"):
                    peer._download(self)
                else:
                    peer._answer(self, {})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 10**9,
        retry_after: int | None = None,
    ) -> None:
        """Answer ``method`` with an error, ``times`` times (then normally again)."""
        self.failures[method] = (status, description, times, retry_after)

    def add_file(self, file_id: str, content: bytes, name: str = "file") -> str:
        """A file getFile knows by ``file_id``; returns its file_path."""
        path = f"documents/{len(self.files)}-{name}"
        self.files[file_id] = (path, content)
        return path

    def drip(self, seconds: float, *, times: int = 1) -> None:
        """Send the next ``times`` downloads one byte every ``seconds`` (their Content-Length
        announcing the whole file), until the client hangs up."""
        self.drips.extend([seconds] * times)

    def _get_file(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = self.files.get(str(params.get("file_id")))
        if found is None:
            description = "Bad Request: invalid file_id"
            return 400, {"ok": False, "error_code": 400, "description": description}
        path, content = found
        file = {"file_id": params["file_id"], "file_size": len(content), "file_path": path}
        return 200, {"ok": True, "result": file}

    def _download(self, handler: BaseHTTPRequestHandler) -> None:
        _, _, bot, path = handler.path.split("/", 3)
        self.calls.append(Call("download", bot.removeprefix("bot"), {"path": path}))
        content = next((c for p, c in self.files.values() if p == path), None)
        failure = self._take_failure("download")
        if bot.removeprefix("bot") != self.token or content is None or failure is not None:
            status = 404 if failure is None else failure[0]
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        try:
            every = self.drips.pop(0)
        except IndexError:
            handler.wfile.write(content)
            return
        for byte in content:
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return  # the client gave up
            time.sleep(every)

    def _take_failure(self, method: str) -> tuple[int, str, int | None] | None:
        """The failure to answer ``method`` with now, if one is due (counting it down)."""
        if method not in self.failures:
            return None
        status, description, times, retry_after = self.failures[method]
        if times <= 1:
            del self.failures[method]
        else:
            self.failures[method] = (status, description, times - 1, retry_after)
        return status, description, retry_after

    def _set_webhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.webhook = dict(params)
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return 200, {"ok": True, "result": True, "description": "Webhook was set"}

    def _delete_webhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}

    def _webhook_info(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        info = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        for name in ("max_connections", "allowed_updates"):
            if name in self.webhook:
                info[name] = self.webhook[name]
        return 200, {"ok": True, "result": info}

    def _get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.webhook.get("url"):
            description = "Conflict: can't use getUpdates method while webhook is active"
            return 409, {"ok": False, "error_code": 409, "description": description}
        offset = int(params.get("offset") or 0)
        if offset:
            self.updates[:] = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.2)
        while not self.updates and time.monotonic() < deadline:
            time.sleep(0.02)
        return 200, {"ok": True, "result": self.updates[:limit]}

    def _get_me(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "result": self.me}

    def _get_chat_member(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            place = (int(params["chat_id"]), int(params["user_id"]))
        except (KeyError, TypeError, ValueError):
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid"}
        member = self.members.get(place)
        if member is None:
            description = "Bad Request: chat not found"
            return 400, {"ok": False, "error_code": 400, "description": description}
        if isinstance(member, str):
            member = {"status": member}
        if member.get("status") == "kicked" and place[1] == self.me["id"]:
            description = "Forbidden: bot was kicked from the supergroup chat"
            return 403, {"ok": False, "error_code": 403, "description": description}
        user = {"id": place[1], "is_bot": place[1] == self.me["id"], "first_name": "Someone"}
        return 200, {"ok": True, "result": {"user": user, **member}}

    STATEFUL = {
        "getMe": _get_me,
        "getChatMember": _get_chat_member,
        "setWebhook": _set_webhook,
        "deleteWebhook": _delete_webhook,
        "getWebhookInfo": _webhook_info,
        "getUpdates": _get_updates,
        "getFile": _get_file,
    }

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, params: dict[str, Any]) -> None:
        _, bot, method = [*handler.path.split("?")[0].split("/", 2), "", ""][:3]
        token = bot.removeprefix("bot")
        self.calls.append(Call(method, token, params))
        if token != self.token:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        elif (failure := self._take_failure(method)) is not None:
            status, description, retry_after = failure
            body = {"ok": False, "error_code": status, "description": description}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
        elif method in self.results:
            status, body = 200, {"ok": True, "result": self.results[method]}
        elif method in self.STATEFUL:
            status, body = self.STATEFUL[method](self, params)
        else:
            status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        send_json(handler, status, body)
