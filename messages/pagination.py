"""Keyset pages over sort_key in DRF's cursor shape: {"next", "previous", "results"}.

Shared by the API and the admin browser.

Both directions cost one store query of page_size + 1 rows, however deep the page: there is
no offset anywhere.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from django.http import HttpRequest
from rest_framework.utils.urls import remove_query_param, replace_query_param

from messages import cursors
from messages.stores.records import MessageQuery, Page, StoredMessage

T = TypeVar("T")
BY_ID = "id"  # the ordering of pages over ids


class Pages(Protocol):
    """What answers a page query: a store, or a search's confirmed matches."""

    def query(self, query: MessageQuery) -> Page: ...


@dataclass(frozen=True)
class KeysetPage:
    items: list[StoredMessage]
    next: str | None
    previous: str | None


def paginate(
    store: Pages,
    request: HttpRequest,
    query: MessageQuery,
    *,
    ordering: str,
    token: str | None,
) -> KeysetPage:
    """One page of ``query`` (whose ``limit`` is the page size) and the links around it.

    Raises InvalidCursor for a token this server did not make for this ordering."""
    position = cursors.decode(token, ordering) if token is not None else None
    descending = ordering == "-date"
    if position is None:
        page = store.query(replace(query, descending=descending, after=None))
        items, more_after, more_before = page.items, page.has_more, False
    elif not position.reverse:
        page = store.query(replace(query, descending=descending, after=position.sort_key))
        # The item the cursor came from lies before this page, so there is a previous page.
        items, more_after, more_before = page.items, page.has_more, True
    else:
        page = store.query(replace(query, descending=not descending, after=position.sort_key))
        items, more_after, more_before = page.items[::-1], True, page.has_more
    url = request.build_absolute_uri()
    return KeysetPage(
        items=items,
        next=_link(url, items[-1], ordering, reverse=False) if items and more_after else None,
        previous=_link(url, items[0], ordering, reverse=True) if items and more_before else None,
    )


def _link(url: str, item: StoredMessage, ordering: str, *, reverse: bool) -> str:
    return _cursor_link(url, cursors.Cursor(item.sort_key, reverse, ordering))


def _cursor_link(url: str, cursor: cursors.Cursor) -> str:
    token = cursors.encode(cursor)
    return replace_query_param(remove_query_param(url, "cursor"), "cursor", token)


cursor_link = _cursor_link  # for listings paged on their own keys (a chat's events)


@dataclass(frozen=True)
class ListPage(Generic[T]):
    items: list[T]
    next: str | None
    previous: str | None


def paginate_by_id(
    request: HttpRequest,
    items: list[T],
    key: Callable[[T], int],
    *,
    page_size: int,
    token: str | None,
) -> ListPage[T]:
    """Cursor pages, in the same shape, over a short list held in memory (the chats), in
    ``key`` order: a cursor holds the id next to the page, so a chat added or removed between
    two requests never shifts a page. Raises InvalidCursor like ``paginate``."""
    ordered = sorted(items, key=key)
    ids = [key(item) for item in ordered]
    start = 0
    if token is not None:
        cursor = cursors.decode(token, BY_ID, check=int)
        pivot = int(cursor.sort_key)
        if cursor.reverse:
            start = max(bisect.bisect_left(ids, pivot) - page_size, 0)
        else:
            start = bisect.bisect_right(ids, pivot)
    page = ordered[start : start + page_size]
    url = request.build_absolute_uri()
    more_after = start + page_size < len(ordered)
    return ListPage(
        items=page,
        next=_cursor_link(url, cursors.Cursor(str(ids[start + len(page) - 1]), False, BY_ID))
        if page and more_after
        else None,
        previous=_cursor_link(url, cursors.Cursor(str(ids[start]), True, BY_ID))
        if page and start > 0
        else None,
    )
