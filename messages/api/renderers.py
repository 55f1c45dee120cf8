from __future__ import annotations

import json
from typing import Any

from rest_framework.renderers import BaseRenderer


class NDJSONRenderer(BaseRenderer):
    """Lets clients ask for the export as application/x-ndjson; renders errors as one line."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data, ensure_ascii=False).encode() + b"\n"


class TelegramExportRenderer(NDJSONRenderer):
    """``format=telegram`` on the export: Telegram Desktop's JSON layout (errors as JSON)."""

    media_type = "application/json"
    format = "telegram"


class FileRenderer(BaseRenderer):
    """The media endpoint answers a file whatever type the client accepts (the file's own
    type is known only once it is opened); its errors are JSON."""

    media_type = "*/*"
    format = "file"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        if renderer_context and renderer_context.get("response") is not None:
            renderer_context["response"]["Content-Type"] = "application/json"
        return json.dumps(data, ensure_ascii=False).encode()
