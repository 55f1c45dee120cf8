"""The keyset sort key: string order equals (date, chat_id, message_id) order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.sortkey import SORT_KEY_LENGTH, decode, highest_at, lowest_at, sort_key

dates = st.integers(min_value=0, max_value=2**40)
chat_ids = st.integers(min_value=-(2**52), max_value=2**52)
message_ids = st.integers(min_value=1, max_value=2**40)
triples = st.tuples(dates, chat_ids, message_ids)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=200)
@given(st.lists(triples, min_size=2, max_size=50))
def test_sorting_by_sort_key_equals_sorting_by_the_tuple(rows: list[tuple[int, int, int]]) -> None:
    assert sorted(rows, key=lambda r: sort_key(*r)) == sorted(rows)


@settings(max_examples=200)
@given(triples, triples)
def test_two_keys_compare_like_their_tuples(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    ka, kb = sort_key(*a), sort_key(*b)
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@settings(max_examples=200)
@given(st.tuples(int64, int64, int64), st.tuples(int64, int64, int64))
def test_order_holds_over_the_whole_signed_64_bit_range(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    assert (sort_key(*a) < sort_key(*b)) == (a < b)


def test_a_negative_chat_sorts_before_a_positive_one_at_the_same_date() -> None:
    assert sort_key(100, -1001234567890123, 5) < sort_key(100, -1, 5) < sort_key(100, 0, 5)
    assert sort_key(100, 0, 5) < sort_key(100, 7123456789, 5)


def test_the_date_outranks_the_chat_and_the_message() -> None:
    assert sort_key(100, 2**52, 2**40) < sort_key(101, -(2**52), 1)


@settings(max_examples=200)
@given(int64, int64, int64)
def test_decode_returns_what_was_encoded(date: int, chat_id: int, message_id: int) -> None:
    key = sort_key(date, chat_id, message_id)
    assert len(key) == SORT_KEY_LENGTH
    assert decode(key) == (date, chat_id, message_id)


@settings(max_examples=200)
@given(triples)
def test_lowest_and_highest_at_bound_every_key_at_that_date(row: tuple[int, int, int]) -> None:
    date = row[0]
    key = sort_key(*row)
    assert lowest_at(date) <= key <= highest_at(date)
    assert highest_at(date - 1) < key < lowest_at(date + 1)


@settings(max_examples=200)
@given(int64, int64, dates)
def test_the_bounds_include_extreme_ids(chat_id: int, message_id: int, date: int) -> None:
    key = sort_key(date, chat_id, message_id)
    assert lowest_at(date) <= key <= highest_at(date)


def test_the_bounds_are_keys_themselves() -> None:
    assert decode(lowest_at(1773483307)) == (1773483307, -(2**63), -(2**63))
    assert decode(highest_at(1773483307)) == (1773483307, 2**63 - 1, 2**63 - 1)


@pytest.mark.parametrize(
    "value", [2**63, -(2**63) - 1, 2**64], ids=["int64-max+1", "int64-min-1", "2^64"]
)
def test_it_refuses_parts_outside_int64(value: int) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        sort_key(value, 1, 1)
    with pytest.raises(ValueError, match="64-bit"):
        sort_key(1, value, 1)
    with pytest.raises(ValueError, match="64-bit"):
        sort_key(1, 1, value)


GOOD = sort_key(1773483307, -1001234567890123, 4127)


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "not a sort key",
        GOOD.upper(),
        GOOD[:-1],
        GOOD + "0",
        GOOD + ".",
        "." + GOOD,
        GOOD.replace(".", "-"),
        GOOD.replace(".", ""),
        GOOD.rsplit(".", 1)[0],
        GOOD + "." + GOOD.split(".")[0],
        GOOD[:-1] + "g",
        GOOD + "\n",
        " " + GOOD,
        "..",
        ".".join(["0" * 15, "0" * 16, "0" * 16]),
        ".".join(["0" * 17, "0" * 16, "0" * 16]),
        ".".join(["+" + "0" * 15, "0" * 16, "0" * 16]),
        ".".join(["-" + "0" * 15, "0" * 16, "0" * 16]),
        ".".join(["0x" + "0" * 14, "0" * 16, "0" * 16]),
        ".".join(["0" * 15 + "\u0661", "0" * 16, "0" * 16]),  # an Arabic-Indic digit
    ],
)
def test_decode_rejects_a_malformed_key(malformed: str) -> None:
    with pytest.raises(ValueError, match="not a sort key"):
        decode(malformed)


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_decode_only_accepts_what_sort_key_could_have_written(text: str) -> None:
    try:
        parts = decode(text)
    except ValueError:
        return
    assert sort_key(*parts) == text
