"""The rehearsal's stand-in for Cloud Run's front end and for Telegram.

Telegram's side: a steady webhook load (the real fixtures of tests/fixtures/telegram, each
with a fresh update_id and message_id and one of a few chats, and the secret header).
Cloud Run's side: each delivery goes to the canary revision for its share of the traffic
(every 1/share-th request, so 5 % is exactly 1 in 20) and to the stable revision otherwise;
the front end counts what it sees per revision as Cloud Run does
(``run_googleapis_com:request_count`` and ``request_latencies`` in ms, labelled service_name
and revision_name) and serves that on /metrics for Prometheus. It also probes each revision's
/readyz every PROBE seconds, as a health check would. A ``delay`` for a revision holds its
answers back that long: a slow network, not a slow application.
"""

from __future__ import annotations

import copy
import http.client
import json
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "telegram"
BUCKETS_MS = (50, 100, 200, 400, 800, 1600, 3200, 5000, 6400, 10000, 20000)
CHATS = (-1001000000001, -1001000000002, -1001000000003, -1001000000004)
TIMEOUT = 10.0  # seconds a delivery may take before the front end answers 504


@dataclass
class Revision:
    name: str  # groupie-00001-sta
    port: int
    delay: float = 0.0  # seconds added to every answer (the slow network)


@dataclass
class Counts:
    requests: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    buckets: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    latency_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    latency_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, revision: str, status: int, milliseconds: float) -> None:
        with self.lock:
            self.requests[(revision, f"{status // 100}xx")] += 1
            for bound in (*BUCKETS_MS, "+Inf"):
                if bound == "+Inf" or milliseconds <= bound:  # type: ignore[operator]
                    self.buckets[(revision, str(bound))] += 1
            self.latency_sum[revision] += milliseconds
            self.latency_count[revision] += 1

    def exposition(self, service: str) -> str:
        """Prometheus' text format, with the labels Cloud Run's metrics carry."""
        lines = ["# TYPE run_googleapis_com:request_count counter"]
        with self.lock:
            for (revision, code_class), value in sorted(self.requests.items()):
                lines.append(
                    f'run_googleapis_com:request_count{{service_name="{service}",'
                    f'revision_name="{revision}",response_code_class="{code_class}"}} {value}'
                )
            lines.append("# TYPE run_googleapis_com:request_latencies histogram")
            for (revision, bound), value in sorted(self.buckets.items()):
                lines.append(
                    f'run_googleapis_com:request_latencies_bucket{{service_name="{service}",'
                    f'revision_name="{revision}",le="{bound}"}} {value}'
                )
            for revision, total in sorted(self.latency_sum.items()):
                labels = f'service_name="{service}",revision_name="{revision}"'
                lines.append(f"run_googleapis_com:request_latencies_sum{{{labels}}} {total}")
                count = self.latency_count[revision]
                lines.append(f"run_googleapis_com:request_latencies_count{{{labels}}} {count}")
        return "\n".join(lines) + "\n"


def load_fixtures() -> list[dict[str, object]]:
    """Every update fixture but the chat migrations (they would link the rehearsal's chats)."""
    return [
        json.loads(path.read_text())
        for path in sorted(FIXTURES.glob("*.json"))
        if not path.name.startswith("migrate_")
    ]


class FrontEnd:
    def __init__(self, service: str, stable: Revision, secret: str, rate: float, probe: float):
        self.service = service
        self.stable = stable
        self.canary: Revision | None = None
        self.share = 0  # percent of the deliveries that go to the canary
        self.secret = secret
        self.rate = rate
        self.probe = probe
        self.counts = Counts()
        self.fixtures = load_fixtures()
        self.stopping = threading.Event()
        self.sent = 0
        self.pool = ThreadPoolExecutor(max_workers=32)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]

    # -- Prometheus' view -----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = front.counts.exposition(front.service).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._load, daemon=True).start()
        threading.Thread(target=self._probes, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- Telegram's load ------------------------------------------------------------------------
    def _load(self) -> None:
        started = time.monotonic()
        while not self.stopping.is_set():
            self.sent += 1
            self.pool.submit(self._deliver, self._target(self.sent), self._update(self.sent))
            self.stopping.wait(max(0.0, started + self.sent / self.rate - time.monotonic()))

    def _target(self, number: int) -> Revision:
        canary, share = self.canary, self.share
        if canary is not None and share and number % round(100 / share) == 0:
            return canary
        return self.stable

    def _update(self, number: int) -> bytes:
        update = copy.deepcopy(random.choice(self.fixtures))  # noqa: S311 - not a secret
        update["update_id"] = 500_000_000 + number
        for value in update.values():
            if isinstance(value, dict) and "message_id" in value:
                value["message_id"] = number
                chat = value.get("chat")
                if isinstance(chat, dict) and chat.get("type") in ("group", "supergroup"):
                    chat["id"] = CHATS[number % len(CHATS)]
        return json.dumps(update).encode()

    def _deliver(self, revision: Revision, body: bytes) -> None:
        started = time.monotonic()
        status = self._post(revision, body)
        if revision.delay:
            time.sleep(revision.delay)
        self.counts.observe(revision.name, status, (time.monotonic() - started) * 1000)

    def _post(self, revision: Revision, body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", revision.port, timeout=TIMEOUT)
        try:
            connection.request(
                "POST",
                "/telegram/webhook/",
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": self.secret,
                },
            )
            response = connection.getresponse()
            response.read()
            return response.status
        except TimeoutError:
            return 504  # Cloud Run's answer when the container takes too long
        except OSError:
            return 503  # no instance to take it
        finally:
            connection.close()

    # -- health checks --------------------------------------------------------------------------
    def _probes(self) -> None:
        while not self.stopping.wait(self.probe):
            for revision in (self.stable, self.canary):
                if revision is not None:
                    self.pool.submit(self._probe, revision)

    @staticmethod
    def _probe(revision: Revision) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", revision.port, timeout=TIMEOUT)
        try:
            connection.request("GET", "/readyz")
            connection.getresponse().read()
        except OSError:
            pass  # the revision counts its own failed checks; a dead one counts none
        finally:
            connection.close()
