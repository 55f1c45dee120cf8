"""A search over the index: its terms as tokens the store can match, and the store's
candidates confirmed by decrypting them.

The store answers with every message that has, for each term, one of the term's tokens under
one of its chat's readable key versions (a rotated chat's older messages keep tokens under the
superseded key until ``reencrypt_messages`` re-keys them). Its answer can hold messages that do
not match: an earlier version had the term and the latest does not, or two terms' tokens
collided. So each candidate is opened and matched on its latest text (``Search.matches``,
which also checks quoted phrases) before it is shown: a page may take more than one store
query, never a wrong message.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from crypto import blindindex
from crypto.blindindex import Search
from messages import sealing
from messages.pagination import Pages
from messages.reading import fields
from messages.reading.opening import OpenedMessage, open_messages
from messages.stores import get_store
from messages.stores.base import MessageStore
from messages.stores.records import MessageQuery, Page, SearchToken, StoredMessage


def term_tokens(search: Search, chat_ids: Collection[int]) -> tuple[frozenset[SearchToken], ...]:
    """For each of the search's terms (the longest, likely the rarest, first), its token under
    every readable key version of each chat. One store read for the keys' states."""
    keys = sealing.chat_keys().openable_keys(chat_ids)
    index_keys = {place: blindindex.index_key(key) for place, key in keys.items()}
    ordered = sorted(search.terms, key=lambda term: (-len(term), term))
    return tuple(
        frozenset(
            (chat, version, blindindex.token(index_key, term))
            for (chat, version), index_key in index_keys.items()
        )
        for term in ordered
    )


def indexed(
    query: MessageQuery, search: Search, chats: Collection[int]
) -> tuple[MessageQuery, IndexedSearch]:
    """``query`` narrowed to ``chats`` and to the search's tokens in them, and what answers
    it: the store's candidates, confirmed."""
    tokens = term_tokens(search, chats)
    return replace(query, chats=tuple(sorted(chats)), search=tokens), IndexedSearch(
        get_store(), search
    )


def confirmed(item: OpenedMessage, search: Search) -> bool:
    message = item.opened.message
    text = fields.text(message) if message is not None else None
    return text is not None and search.matches(text)


class IndexedSearch:
    """A store's ``query`` for one search: pages of confirmed matches. Pagination, exports
    and the admin take it where they take a store. It keeps what it opened to confirm the
    last page, so showing that page decrypts nothing twice (``open_page``)."""

    def __init__(self, store: MessageStore, search: Search) -> None:
        self.store, self.search = store, search
        self._opened: dict[StoredMessage, OpenedMessage] = {}

    def query(self, query: MessageQuery) -> Page:
        found: list[OpenedMessage] = []
        after = query.after
        while True:
            # One candidate more than the page: when all confirm, no second query is needed
            # to tell whether another page follows.
            page = self.store.query(replace(query, after=after, limit=query.limit + 1))
            for item in open_messages(page.items):
                if confirmed(item, self.search):
                    found.append(item)
                    if len(found) > query.limit:
                        return self._page(found[: query.limit], has_more=True)
            if not page.has_more:
                return self._page(found, has_more=False)
            after = page.items[-1].sort_key

    def _page(self, found: list[OpenedMessage], *, has_more: bool) -> Page:
        self._opened = {item.stored: item for item in found}
        return Page([item.stored for item in found], has_more=has_more)

    def opened(self, items: Sequence[StoredMessage]) -> list[OpenedMessage]:
        """``items`` opened: those of the last page from what confirmed them."""
        missing = [item for item in items if item not in self._opened]
        fresh = dict(zip(missing, open_messages(missing), strict=True)) if missing else {}
        return [self._opened.get(item) or fresh[item] for item in items]


def open_page(source: Pages, items: Sequence[StoredMessage]) -> list[OpenedMessage]:
    """A page's items opened: a search's were opened to confirm them already."""
    if isinstance(source, IndexedSearch):
        return source.opened(items)
    return open_messages(items)
