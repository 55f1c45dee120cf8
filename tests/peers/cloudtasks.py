"""A loopback Cloud Tasks: the real gRPC protocol for CreateTask, and HTTP tasks dispatched
the way Cloud Tasks dispatches them, OIDC token included.

The project's CloudTasksBackend talks to it through the real google-cloud-tasks client over an
insecure loopback channel (CLOUD_TASKS_ENDPOINT). CreateTask keeps the task; a dispatcher
thread POSTs each one to its ``http_request.url`` once its ``schedule_time`` has come, with
its headers and body and ``Authorization: Bearer <OIDC token>``: an RS256 ID token as Google
issues one (``kid`` header; ``iss`` https://accounts.google.com, ``aud`` the task's audience,
``email`` its service account, ``email_verified``, ``iat``, ``exp``), signed with the peer's
own key, whose certificate it serves at ``certs_url`` in Google's v1 layout ({kid: PEM}). A
non-2xx answer is tried again after a backoff that doubles, up to ``max_attempts``, as a
queue's retry configuration does. ``deliveries`` records (task name, HTTP status) in order.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from google.cloud import tasks_v2

SERVICE = "google.cloud.tasks.v2.CloudTasks"
KEY_ID = "loopback-cloud-tasks-1"


@dataclass
class _Pending:
    name: str
    task: Any  # tasks_v2.Task
    due: float
    attempt: int = 0


class CloudTasksPeer:
    def __init__(self, *, min_backoff: float = 0.05, max_attempts: int = 5) -> None:
        self.min_backoff, self.max_attempts = min_backoff, max_attempts
        self.created: list[Any] = []  # the CreateTaskRequests, as received
        self.deliveries: list[tuple[str, int]] = []
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signer = crypt.RSASigner.from_string(
            self._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            key_id=KEY_ID,
        )
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(
            self._create_task,
            request_deserializer=tasks_v2.CreateTaskRequest.deserialize,
            response_serializer=tasks_v2.Task.serialize,
        )
        self._grpc.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, {"CreateTask": handler})]
        )
        self.port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._certs = self._certs_server()
        self.certs_url = f"http://127.0.0.1:{self._certs.server_address[1]}/oauth2/v1/certs"
        self._threads = [
            threading.Thread(target=self._certs.serve_forever, daemon=True),
            threading.Thread(target=self._dispatch, daemon=True),
        ]

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._grpc.start()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._grpc.stop(grace=None)
        self._certs.shutdown()
        self._certs.server_close()

    def token(self, audience: str, service_account: str, **claims: Any) -> str:
        """An ID token as Google signs one for Cloud Tasks (claims may be overridden)."""
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "azp": "112233445566778899",
            "sub": "112233445566778899",
            "email": service_account,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(self.signer, payload).decode()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Returns once no task is waiting (delivered, or given up), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return
            time.sleep(0.02)
        raise TimeoutError("Cloud Tasks peer: tasks still pending")

    # -- the service -----------------------------------------------------------------------------

    def _create_task(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not request.parent.count("/queues/"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "parent must be a queue name")
        task = request.task
        task.name = task.name or f"{request.parent}/tasks/{uuid.uuid4().hex}"
        schedule = task.schedule_time
        due = schedule.timestamp() if schedule else time.time()
        with self._lock:
            self.created.append(request)
            self._pending.append(_Pending(task.name, task, due))
        task.create_time = datetime.now(UTC)
        return task

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = [p for p in self._pending if p.due <= time.time()]
            for pending in due:
                status = self._deliver(pending.task)
                pending.attempt += 1
                with self._lock:
                    self.deliveries.append((pending.name, status))
                    if 200 <= status < 300 or pending.attempt >= self.max_attempts:
                        self._pending.remove(pending)
                    else:
                        backoff = self.min_backoff * 2 ** (pending.attempt - 1)
                        pending.due = time.time() + backoff
            self._stop.wait(0.02)

    def _deliver(self, task: Any) -> int:
        http = task.http_request
        headers = dict(http.headers)
        headers["Authorization"] = "Bearer " + self.token(
            http.oidc_token.audience or http.url, http.oidc_token.service_account_email
        )
        headers["X-CloudTasks-TaskName"] = task.name.rsplit("/", 1)[-1]
        request = urllib.request.Request(  # noqa: S310 - the test's own live server
            http.url, data=http.body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)
        except OSError:
            return 0

    def _certs_server(self) -> ThreadingHTTPServer:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback-cloud-tasks")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        body = json.dumps(
            {KEY_ID: certificate.public_bytes(serialization.Encoding.PEM).decode()}
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)
