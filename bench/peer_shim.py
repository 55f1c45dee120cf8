"""The prototype's WSGI entry for bench/peer.py: its own app, with three things swapped (ours).

bench/peer.py extracts the old Flask prototype from its git mirror and runs this module under
gunicorn in the prototype's own throwaway venv, with the extracted tree on the Python path. The
app is built exactly as the prototype's Dockerfile builds it (``main.get_app()``); before that:

- its Cloud KMS client is pointed at the loopback KMS peer (``BENCH_KMS_ENDPOINT``) over an
  insecure gRPC channel with anonymous credentials: the client is constructed with a gRPC
  transport on that channel instead of Application Default Credentials;
- its Telegram bot's HTTP layer is replaced by a stub that answers every Bot API call (the
  per-message reply, sendMessage) at once with a well-formed result: no network. The reply is
  still built, serialised, and its answer parsed by python-telegram-bot, as in production;
- Firestore needs nothing here: the client honours ``FIRESTORE_EMULATOR_HOST`` and takes the
  emulator project from ``GOOGLE_CLOUD_PROJECT``.

Everything else (route, secret check, update parsing, one KMS Encrypt and one Firestore add()
per text message, logging) is the prototype's own code, unchanged.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import grpc
from google.auth.credentials import AnonymousCredentials
from google.cloud import kms
from google.cloud.kms_v1.services.key_management_service.transports import (
    KeyManagementServiceGrpcTransport,
)
from telegram.request import BaseRequest

_KmsClient = kms.KeyManagementServiceClient


def _loopback_kms_client(*args: Any, **kwargs: Any) -> Any:
    channel = grpc.insecure_channel(os.environ["BENCH_KMS_ENDPOINT"])
    transport = KeyManagementServiceGrpcTransport(
        channel=channel, credentials=AnonymousCredentials()
    )
    return _KmsClient(transport=transport)


class StubBotRequest(BaseRequest):
    """Answers every Bot API call with success, as Telegram would, without any I/O."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._next_id = 0

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: Any = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        parameters = dict(request_data.parameters) if request_data is not None else {}
        self._next_id += 1
        chat_id = int(parameters.get("chat_id", 0))
        result = {
            "message_id": self._next_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup" if chat_id < 0 else "private"},
            "from": {"id": 1, "is_bot": True, "first_name": "bench"},
            "text": str(parameters.get("text", "")),
        }
        return 200, json.dumps({"ok": True, "result": result}).encode()


kms.KeyManagementServiceClient = _loopback_kms_client  # type: ignore[misc,assignment]

import src.implementations.production as _production  # noqa: E402  (the prototype's module)

_production.HTTPXRequest = StubBotRequest  # type: ignore[misc,assignment]

from main import get_app  # noqa: E402  (the prototype's app factory)

app = get_app()
