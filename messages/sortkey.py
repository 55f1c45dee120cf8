"""The keyset sort key: one string, totally ordered like (Telegram date, chat_id, message_id).

Each part is a signed 64-bit integer shifted into unsigned range and written as 16 hex digits,
so string order equals numeric order for negative chat ids too, and SQL and Firestore range
filters on the one field page without offsets. Plain Python: no Django.
"""

from __future__ import annotations

import re

_OFFSET = 2**63
_PART = re.compile(r"[0-9a-f]{16}")
SORT_KEY_LENGTH = 16 * 3 + 2


def _encode(value: int) -> str:
    if not -_OFFSET <= value < _OFFSET:
        raise ValueError("sort-key part outside the signed 64-bit range")
    return f"{value + _OFFSET:016x}"


def sort_key(date: int, chat_id: int, message_id: int) -> str:
    return f"{_encode(date)}.{_encode(chat_id)}.{_encode(message_id)}"


def decode(key: str) -> tuple[int, int, int]:
    """The (date, chat_id, message_id) of a key; raises ValueError for anything else."""
    parts = key.split(".")
    if len(parts) != 3 or not all(_PART.fullmatch(p) for p in parts):
        raise ValueError("not a sort key")
    date, chat_id, message_id = (int(p, 16) - _OFFSET for p in parts)
    return date, chat_id, message_id


def lowest_at(date: int) -> str:
    """The smallest key of any message at ``date`` (an inclusive lower bound)."""
    return sort_key(date, -_OFFSET, -_OFFSET)


def highest_at(date: int) -> str:
    """The largest key of any message at ``date`` (an inclusive upper bound)."""
    return sort_key(date, _OFFSET - 1, _OFFSET - 1)
