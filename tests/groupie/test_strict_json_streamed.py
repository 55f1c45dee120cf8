"""strictjson.build: one value of a streamed document under the rules strictjson.loads
applies to a request body, read to its end even when refused, so the stream goes on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import ijson
import pytest

from groupie import strictjson

CASES = [
    '{"a": 1, "b": [1, 2.5, "x", null, true, {"c": {}}]}',
    '{"a": 1, "a": 2}',
    '{"a": {"b": {"c": 1}}}',
    "[[[[1]]]]",
    '"text"',
    "17",
]


def events(text: str) -> Iterator[tuple[str, Any]]:
    return ijson.basic_parse(io.BytesIO(text.encode()), use_float=True)


def outcome(call: Any) -> Any:
    try:
        return call()
    except strictjson.StrictJSONError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("text", CASES)
def test_it_refuses_and_keeps_what_loads_does(text: str) -> None:
    stream = events(text)
    first, value = next(stream)
    built = outcome(lambda: strictjson.build(first, value, stream, max_depth=3))
    assert built == outcome(lambda: strictjson.loads(text, max_depth=3))
    assert list(stream) == []  # read to its end, and not beyond


def test_a_refused_value_is_read_to_its_end_and_the_next_one_read() -> None:
    stream = events('[{"a": [[[[[[1]]]]]], "a": 2}, {"b": 1e308}]')
    assert next(stream) == ("start_array", None)
    with pytest.raises(strictjson.StrictJSONError, match="nested deeper than 3 levels"):
        strictjson.build(*next(stream), stream, max_depth=3)
    assert strictjson.build(*next(stream), stream, max_depth=3) == {"b": 1e308}
    assert list(stream) == [("end_array", None)]


def test_an_infinite_number_is_refused() -> None:
    stream = iter([("number", float("inf")), ("end_array", None)])
    with pytest.raises(strictjson.StrictJSONError, match="too large to represent"):
        strictjson.build("start_array", None, stream, max_depth=3)
    assert list(stream) == []
    with pytest.raises(strictjson.StrictJSONError, match="too large to represent"):
        strictjson.build("number", float("inf"), iter([]), max_depth=3)
