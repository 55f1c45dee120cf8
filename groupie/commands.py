"""What management commands of every app share (a neutral home, not a domain package):
how their summary lines count things."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str = "") -> str:
    """ "1 chat", "2 chats", "1,234 chats"; ``plural`` for a noun that is not just + "s"
    ("1 chat index", "2 chat indexes")."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
