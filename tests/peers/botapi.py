"""A loopback Bot API server: Telegram's HTTP protocol on 127.0.0.1, for the real client.

It answers ``POST /bot<token>/<method>`` (and GET) with Telegram's envelope, ``{"ok": true,
"result": ...}``, from ``results[method]``; records every call (method, token, JSON params);
refuses a token other than its own with Telegram's 401; and answers an error on demand
(``fail(method, status, description)``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:TEST-token-for-the-loopback-peer"


@dataclass
class Call:
    method: str
    token: str
    params: dict[str, Any]


@dataclass
class BotApiPeer:
    token: str = TOKEN
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                peer._answer(self, json.loads(raw) if raw else {})

            def do_GET(self) -> None:
                peer._answer(self, {})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail(self, method: str, status: int, description: str) -> None:
        self.failures[method] = (status, description)

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
        elif method in self.failures:
            status, description = self.failures[method]
            body = {"ok": False, "error_code": status, "description": description}
        elif method in self.results:
            status, body = 200, {"ok": True, "result": self.results[method]}
        else:
            status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        encoded = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(encoded)))
        handler.end_headers()
        handler.wfile.write(encoded)
