"""Search within a chat without an index, by decrypting and matching.

Each request opens at most SCAN_LIMIT messages, so its cost is bounded; it reports how far back
it looked and where to continue. A message matches as it would with the index (every word,
each quoted phrase as written), and here also by its sender's names and its file's name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from crypto.blindindex import Search
from messages.reading import fields
from messages.reading.opening import OpenedMessage, open_messages
from messages.stores.base import MessageStore
from messages.stores.records import MessageQuery

SCAN_LIMIT = 500
BATCH = 100


@dataclass(frozen=True)
class SearchResult:
    matches: list[OpenedMessage]
    scanned: int
    oldest_date: int | None  # the Telegram date of the last message looked at
    resume_after: str | None  # sort_key to continue from; None when the chat is exhausted


def matches(item: OpenedMessage, search: Search) -> bool:
    message = item.opened.message
    if message is None:
        return False
    sender = fields.sender(message) or {}
    haystack = " ".join(
        str(part)
        for part in (
            fields.text(message),
            sender.get("first_name"),
            sender.get("last_name"),
            sender.get("username"),
            (fields.media(message) or {}).get("file_name"),
        )
        if part
    )
    return search.matches(haystack)


def search(
    store: MessageStore, query: MessageQuery, needle: Search, *, want: int, after: str | None
) -> SearchResult:
    """Up to ``want`` messages matching ``needle`` among the next SCAN_LIMIT of ``query``."""
    found: list[OpenedMessage] = []
    scanned, oldest = 0, None
    position = after
    while scanned < SCAN_LIMIT and len(found) < want:
        page = store.query(replace(query, after=position, limit=min(BATCH, SCAN_LIMIT - scanned)))
        for item in open_messages(page.items):
            scanned += 1
            oldest = item.stored.date
            position = item.stored.sort_key
            if matches(item, needle):
                found.append(item)
                if len(found) == want:
                    break
        if not page.has_more and (not page.items or position == page.items[-1].sort_key):
            return SearchResult(found, scanned, oldest, None)
    return SearchResult(found, scanned, oldest, position)
