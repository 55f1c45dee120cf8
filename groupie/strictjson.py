"""Strict JSON for request bodies: what Python's json module lets through and the rest of the
system cannot hold.

``json.loads`` accepts ``NaN`` and ``Infinity``, turns ``1e400`` into infinity (which no JSON
encoder will write back out), keeps the last of duplicate keys, and nests as deep as the
interpreter's recursion allows (a record nested ~950 deep parses, then fails to be encoded
again). ``loads`` here refuses all of these with a ``StrictJSONError`` naming the problem,
never a value, so callers can answer 400 and change nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any


class StrictJSONError(ValueError):
    """Not JSON, or JSON that the archive refuses. The text names the problem, no content."""


def _no_constants(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError("a number is too large to represent")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise StrictJSONError("an object has the same key twice")
    return result


def depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(body: bytes | str, *, max_depth: int) -> Any:
    """Decodes ``body``; raises StrictJSONError for invalid JSON, non-finite numbers, duplicate
    keys or nesting deeper than ``max_depth``."""
    try:
        value = json.loads(
            body,
            parse_constant=_no_constants,
            parse_float=_finite,
            object_pairs_hook=_no_duplicates,
        )
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError(f"nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError; their text quotes the body
        raise StrictJSONError("body is not valid JSON") from None
    if depth(value) > max_depth:
        raise StrictJSONError(f"nested deeper than {max_depth} levels")
    return value


def _finite_or_text(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def loads_stored(plaintext: bytes) -> Any:
    """Decodes JSON the archive wrote itself, tolerating what an older release let in: a
    non-finite number comes back as its text ("Infinity", "1e400") rather than as a float no
    encoder can write, so every reader can still show and export the record."""

    return json.loads(plaintext, parse_constant=str, parse_float=_finite_or_text)
