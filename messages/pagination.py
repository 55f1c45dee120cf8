"""Keyset pages over sort_key in DRF's cursor shape: {"next", "previous", "results"}.

Shared by the API and the admin browser.

Both directions cost one store query of page_size + 1 rows, however deep the page: there is
no offset anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.http import HttpRequest
from rest_framework.utils.urls import remove_query_param, replace_query_param

from messages import cursors
from messages.stores.base import MessageStore
from messages.stores.records import MessageQuery, StoredMessage


@dataclass(frozen=True)
class KeysetPage:
    items: list[StoredMessage]
    next: str | None
    previous: str | None


def paginate(
    store: MessageStore,
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
    token = cursors.encode(cursors.Cursor(item.sort_key, reverse, ordering))
    return replace_query_param(remove_query_param(url, "cursor"), "cursor", token)
