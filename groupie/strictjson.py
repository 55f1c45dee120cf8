"""Strict JSON for request bodies: what Python's json module lets through and the rest of the
system cannot hold.

``json.loads`` accepts ``NaN`` and ``Infinity``, turns ``1e400`` into infinity (which no JSON
encoder will write back out), keeps the last of duplicate keys, and nests as deep as the
interpreter's recursion allows (a record nested ~950 deep parses, then fails to be encoded
again). ``loads`` here refuses all of these with a ``StrictJSONError`` naming the problem,
never a value, so callers can answer 400 and change nothing. ``build`` applies the same rules
to one value of a streamed document (ijson's events), for files too large to load whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

DUPLICATE_KEY = "an object has the same key twice"
NOT_FINITE = "a number is too large to represent"


class StrictJSONError(ValueError):
    """Not JSON, or JSON that the archive refuses. The text names the problem, no content."""


def _no_constants(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(NOT_FINITE)
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise StrictJSONError(DUPLICATE_KEY)
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
        raise StrictJSONError(too_deep(max_depth)) from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError; their text quotes the body
        raise StrictJSONError("body is not valid JSON") from None
    if depth(value) > max_depth:
        raise StrictJSONError(too_deep(max_depth))
    return value


def too_deep(max_depth: int) -> str:
    return f"nested deeper than {max_depth} levels"


_STARTS = {"start_map": dict, "start_array": list}
_ENDS = frozenset({"end_map", "end_array"})


def build(event: str, value: Any, events: Iterator[tuple[str, Any]], *, max_depth: int) -> Any:
    """The value a streaming parser's ``event`` (with its ``value``) begins, read on from
    ``events`` (ijson's ``(event, value)`` pairs) to its end and no further, under ``loads``'s
    rules. A refused value is still read to its end, so the stream can go on after it; what is
    nested too deep is never built."""
    if event not in _STARTS:
        return _scalar(value)
    problem = ""
    root: Any = _STARTS[event]()
    stack: list[Any] = [root]
    keys: list[str | None] = [None]  # the key awaiting its value, per open object
    skipped = 0  # levels open beyond max_depth, read and dropped
    for event, value in events:
        if skipped:
            skipped += 1 if event in _STARTS else -1 if event in _ENDS else 0
            continue
        if event in _ENDS:
            stack.pop()
            keys.pop()
            if not stack:
                break
            continue
        if event == "map_key":
            if value in stack[-1]:
                problem = problem or DUPLICATE_KEY
            keys[-1] = value
            continue
        if event in _STARTS:
            if len(stack) >= max_depth:
                problem, skipped = problem or too_deep(max_depth), 1
                continue
            item = _STARTS[event]()
        else:
            try:
                item = _scalar(value)
            except StrictJSONError as exc:
                problem, item = problem or str(exc), None
        container = stack[-1]
        if isinstance(container, list):
            container.append(item)
        elif keys[-1] not in container:  # the first of duplicate keys is kept
            container[keys[-1]] = item
        if event in _STARTS:
            stack.append(item)
            keys.append(None)
    if problem:
        raise StrictJSONError(problem)
    return root


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise StrictJSONError(NOT_FINITE)
    return value


def _finite_or_text(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def loads_stored(plaintext: bytes) -> Any:
    """Decodes JSON the archive wrote itself, tolerating what an older release let in: a
    non-finite number comes back as its text ("Infinity", "1e400") rather than as a float no
    encoder can write, so every reader can still show and export the record."""

    return json.loads(plaintext, parse_constant=str, parse_float=_finite_or_text)
