"""The API's JSON parser: strict, like the webhook's (no non-finite numbers, no duplicate keys,
bounded nesting), so a hostile body is a 400, never a RecursionError's 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from groupie import strictjson

# The API's bodies are flat ({"ids": ["chat:message", ...]}); a little room to spare.
MAX_DEPTH = 8


class StrictJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return strictjson.loads(stream.read(), max_depth=MAX_DEPTH)
        except strictjson.StrictJSONError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
