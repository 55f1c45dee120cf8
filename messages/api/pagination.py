"""Keyset pages over sort_key in DRF's cursor shape: {"next", "previous", "results"}.

Both directions cost one store query of page_size + 1 rows, however deep the page: there is
no offset anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from messages.api import cursor as cursors
from messages.stores.base import MessageQuery, MessageStore, StoredMessage


@dataclass(frozen=True)
class KeysetPage:
    items: list[StoredMessage]
    next: str | None
    previous: str | None


def paginate(
    store: MessageStore,
    request: Request,
    query: MessageQuery,
    *,
    ordering: str,
    token: str | None,
) -> KeysetPage:
    """One page of ``query`` (whose ``limit`` is the page size) and the links around it."""
    position = _decode(token, ordering)
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


def _decode(token: str | None, ordering: str) -> cursors.Cursor | None:
    if token is None:
        return None
    try:
        return cursors.decode(token, ordering)
    except cursors.InvalidCursor as exc:
        raise ValidationError({"cursor": [str(exc)]}) from None


def _link(url: str, item: StoredMessage, ordering: str, *, reverse: bool) -> str:
    token = cursors.encode(cursors.Cursor(item.sort_key, reverse, ordering))
    return replace_query_param(remove_query_param(url, "cursor"), "cursor", token)
