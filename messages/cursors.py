"""Opaque, signed page cursors wrapping a sort_key, the direction and the ordering.

Signing means a client cannot forge a position or smuggle a value into the store query: a
cursor the server did not make is a 400, never a 500 or a surprising page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core import signing

from messages import sortkey

_SALT = "groupie.api.cursor.v1"
MAX_LENGTH = 512


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    sort_key: str
    reverse: bool  # True: this page lies before the key, in the listing's order
    ordering: str  # "date" or "-date", the listing it belongs to


def encode(cursor: Cursor) -> str:
    payload = {"k": cursor.sort_key, "r": int(cursor.reverse), "o": cursor.ordering}
    return signing.dumps(payload, salt=_SALT)


def decode(token: str, ordering: str, *, check: Callable[[str], object] = sortkey.decode) -> Cursor:
    """The cursor in ``token``, made by this server for ``ordering``; ``check`` validates its
    key (a message sort_key unless said otherwise)."""
    if len(token) > MAX_LENGTH:
        raise InvalidCursor("cursor is too long")
    try:
        payload = signing.loads(token, salt=_SALT)
        cursor = Cursor(str(payload["k"]), bool(payload["r"]), str(payload["o"]))
        check(cursor.sort_key)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidCursor("cursor is invalid") from None
    if cursor.ordering != ordering:
        raise InvalidCursor("cursor belongs to the other ordering")
    return cursor
