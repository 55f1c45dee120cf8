"""The Cloud Storage emulator (the gcp-storage-emulator package), taught one rule of the real
service that it ignores: ``ifGenerationMatch=0`` on an upload.

Cloud Storage refuses such an upload with 412 Precondition Failed when the object already
exists, so a writer can create an object without ever replacing one. The emulator (2026.7)
accepts the parameter and overwrites anyway, which would let a test of create-only writes pass
against a store that replaces objects. Here the upload routes answer 412 as the service does,
at the start of an upload and at each of its chunks (the last one is where the real service
decides), and the tests go on using the real google-cloud-storage client against it.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gcp_storage_emulator import server
from gcp_storage_emulator.exceptions import NotFound

_UPLOAD_PATH = re.compile(r"^(?:/upload)?(?:/storage/v1)?/b/(?P<bucket>[-.\w]+)/o$")
_original_handle = server.Router.handle


def _existing(storage: Any, bucket: str, query: dict[str, list[str]]) -> bool:
    """Whether the object an upload request is for exists already."""
    try:
        if "upload_id" in query:
            name = storage.get_resumable_file_obj(query["upload_id"][0])["name"]
        elif "name" in query:
            name = query["name"][0]
        else:
            return False  # a multipart upload names it in its body: not used by our client
        storage.get_file_obj(bucket, name)
    except NotFound:
        return False
    return True


def _handle(self: Any, method: str) -> None:
    handler = self._request_handler
    url = urlsplit(handler.path)
    query = parse_qs(url.query)
    upload = _UPLOAD_PATH.match(url.path)
    if (
        upload is not None
        and method in (server.POST, server.PUT)
        and query.get("ifGenerationMatch") == ["0"]
        and _existing(handler.storage, upload["bucket"], query)
    ):
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        response = server.Response(handler)
        response.status = HTTPStatus.PRECONDITION_FAILED
        message = "At least one of the pre-conditions you specified did not hold."
        response.json(
            {
                "error": {
                    "code": 412,
                    "message": message,
                    "errors": [{"reason": "conditionNotMet", "message": message}],
                }
            }
        )
        response.close()
        return
    _original_handle(self, method)


def honour_if_generation_match() -> None:
    """Installs the rule (once; the emulator runs in this process, on its own thread)."""
    server.Router.handle = _handle  # type: ignore[method-assign]
