"""A Django task backend on Cloud Tasks, and the endpoint its HTTP tasks call (Cloud Run).

``enqueue`` creates an HTTP task on the queue (``CLOUD_TASKS_QUEUE``) that POSTs the task's
path and arguments to ``<GROUPIE_TASKS_URL>/internal/tasks/`` with an OIDC token, signed by
Google for ``CLOUD_TASKS_SERVICE_ACCOUNT`` with that URL as its audience; ``run_after``
becomes the task's schedule time. Cloud Tasks keeps the task until the endpoint answers 2xx,
retrying with the queue's backoff (deploy/bootstrap.sh creates the queue).

The endpoint is on the public service, so the token is the gate: its signature against
Google's published certificates, its audience, issuer and expiry, and that it names that one
service account, verified email. Only tasks of groupie's own apps run. Without the cloudtasks
backend configured the endpoint is a 404.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import Task
from django_tasks.utils import get_random_id
from google.auth import exceptions as auth_exceptions
from google.auth import jwt
from typing_extensions import ParamSpec

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ISSUERS = ("https://accounts.google.com", "accounts.google.com")
TASK_APPS = ("webhooks.", "messages.")  # whose tasks the endpoint runs
CERTS_SECONDS = 3600
CERTS_MIN_SECONDS = 60
CLOCK_SKEW_SECONDS = 10
ENDPOINT_PATH = "/internal/tasks/"
P = ParamSpec("P")
T = TypeVar("T")


class EnqueueError(Exception):
    """The queue refused or could not be reached; nothing was enqueued."""


class CloudTasksBackend(BaseTaskBackend):
    supports_defer = True
    # The queue is not the database: a task enqueued inside a transaction could run before it
    # commits. Callers that mark work due in the database enqueue after the commit.
    enqueue_after_commit = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        options = {"endpoint": "", "certs_url": "", **self.options}
        unknown = set(options) - {"queue", "url", "service_account", "endpoint", "certs_url"}
        missing = [k for k in ("queue", "url", "service_account") if not options.get(k)]
        if unknown or missing:
            raise ValueError(
                "GROUPIE_TASKS=cloudtasks needs CLOUD_TASKS_QUEUE, GROUPIE_TASKS_URL and "
                f"CLOUD_TASKS_SERVICE_ACCOUNT (missing: {', '.join(missing) or 'none'}; "
                f"unknown options: {', '.join(sorted(unknown)) or 'none'})"
            )
        self.queue = options["queue"]
        self.audience = options["url"].rstrip("/") + ENDPOINT_PATH
        self.service_account = options["service_account"]
        self.endpoint = options["endpoint"]
        self.certs_url = options["certs_url"] or GOOGLE_CERTS_URL
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _make_client(self.endpoint)
            return self._client

    def enqueue(self, task: Task[P, T], args: Any, kwargs: Any) -> TaskResult[T]:
        from google.api_core import exceptions as google_exceptions
        from google.cloud import tasks_v2

        self.validate_task(task)
        result: TaskResult[T] = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        body: dict[str, Any] = {
            "task": task.module_path,
            "id": result.id,
            "args": result.args,
            "kwargs": result.kwargs,
        }
        request: dict[str, Any] = {
            "http_request": {
                "http_method": tasks_v2.HttpMethod.POST,
                "url": self.audience,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(body).encode(),
                "oidc_token": {
                    "service_account_email": self.service_account,
                    "audience": self.audience,
                },
            }
        }
        if task.run_after is not None:
            request["schedule_time"] = task.run_after
        try:
            self.client().create_task(parent=self.queue, task=request, timeout=10)
        except google_exceptions.GoogleAPIError as exc:
            raise EnqueueError(f"Cloud Tasks: {type(exc).__name__}") from None
        return result


def _make_client(endpoint: str) -> Any:
    from google.cloud import tasks_v2

    if not endpoint:
        return tasks_v2.CloudTasksClient()
    import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    # Only ever a loopback test peer: no TLS, no credentials.
    transport = CloudTasksGrpcTransport(
        channel=grpc.insecure_channel(endpoint), credentials=AnonymousCredentials()
    )
    return tasks_v2.CloudTasksClient(transport=transport)


class _Certificates:
    """Google's token-signing certificates, fetched at most once an hour, or sooner when a
    token names a key id not among them (Google rotates them), but never more than once a
    minute: a stream of forged tokens with made-up key ids costs no more than that."""

    def __init__(self) -> None:
        self._certs: dict[str, str] = {}
        self._fetched = -float("inf")
        self._url = ""
        self._lock = threading.Lock()

    def get(self, url: str, key_id: str | None) -> dict[str, str]:
        with self._lock:
            age = time.monotonic() - self._fetched
            stale = age > CERTS_SECONDS or url != self._url
            unknown = key_id not in self._certs and age > CERTS_MIN_SECONDS
            if not (stale or unknown):
                return self._certs
            claimed, self._fetched = self._fetched, time.monotonic()  # others use what is there
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https, or the tests' loopback
                certs = json.loads(response.read())
        except (OSError, ValueError):
            with self._lock:
                self._fetched = claimed  # the next token may try again
            raise OSError("the signing certificates could not be fetched") from None
        with self._lock:
            self._certs, self._url = certs, url
            return self._certs


certificates = _Certificates()


class TokenRefused(Exception):
    pass


def verify_token(backend: CloudTasksBackend, authorization: str) -> None:
    """Raises TokenRefused unless ``authorization`` carries a valid OIDC token from Cloud
    Tasks for this service."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise TokenRefused("no bearer token")
    try:
        header = jwt.decode_header(token)
        certs = certificates.get(backend.certs_url, header.get("kid"))
        claims = jwt.decode(
            token,
            certs=certs,
            audience=backend.audience,
            clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
        )
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise TokenRefused(f"token does not verify ({type(exc).__name__})") from None
    except OSError:
        raise TokenRefused("the signing certificates could not be fetched") from None
    if claims.get("iss") not in ISSUERS:
        raise TokenRefused("token from another issuer")
    if claims.get("email") != backend.service_account or not claims.get("email_verified"):
        raise TokenRefused("token of another identity")


@csrf_exempt
@require_POST
def run_task(request: HttpRequest) -> HttpResponse:
    """POST /internal/tasks/: runs one task Cloud Tasks delivers. 2xx: done (or nothing to
    do); 5xx: Cloud Tasks tries again later."""
    backend = task_backends["default"]
    if not isinstance(backend, CloudTasksBackend):
        return JsonResponse({"detail": "Not found."}, status=404)
    try:
        verify_token(backend, request.headers.get("Authorization", ""))
    except TokenRefused as exc:
        return JsonResponse({"detail": f"Forbidden: {exc}."}, status=403)
    try:
        payload = json.loads(request.body)
        path, args, kwargs = payload["task"], payload["args"], payload["kwargs"]
        if not (isinstance(path, str) and path.startswith(TASK_APPS)):
            raise ValueError(path)
        task = import_string(path)
        if not isinstance(task, Task) or not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError(path)
    except (ValueError, KeyError, TypeError, ImportError):
        return JsonResponse({"detail": "Not a task of this service."}, status=400)
    outcome = task.call(*args, **kwargs)
    return JsonResponse({"result": outcome})
