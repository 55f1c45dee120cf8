"""The archive written out, decrypted, a page at a time: NDJSON (one API message a line) or
Telegram Desktop's JSON layout. Shared by export_messages and the API's export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

from messages.pagination import Pages
from messages.reading import as_api, opening
from messages.reading.opening import OpenedMessage
from messages.search.query import open_page
from messages.stores import get_store
from messages.stores.records import ChatRecord, MessageQuery
from messages.telegram_desktop.write import as_exported, exported_chat

BATCH = 500


def opened_pages(query: MessageQuery, source: Pages | None = None) -> Iterator[list[OpenedMessage]]:
    """``query``'s messages, opened, a page at a time, in ``query``'s order; from ``source``
    (a search's matches) or the store."""
    store = source or get_store()
    after: str | None = None
    while True:
        page = store.query(replace(query, after=after, limit=BATCH))
        yield open_page(store, page.items)
        if not page.has_more:
            return
        after = page.items[-1].sort_key


def ndjson(chats: list[ChatRecord], query: MessageQuery) -> Iterator[tuple[str, int]]:
    """(text, messages in it) chunks: each chat's messages in date order, one per line."""
    for chat in chats:
        for batch in opened_pages(replace(query, chats=(chat.chat_id,), descending=False)):
            lines = "".join(
                json.dumps(as_api.message(item), ensure_ascii=False) + "\n" for item in batch
            )
            yield lines, len(batch)


def telegram(
    chats: list[ChatRecord], query: MessageQuery, *, source: Pages | None = None
) -> Iterator[tuple[str, int]]:
    """(text, messages in it) chunks of Telegram Desktop's layout: one chat's, or the whole
    account's when there are several. A record that does not open is left out."""
    several = len(chats) != 1
    if several:
        yield '{"about": "Exported by groupie.", "chats": {"list": [\n', 0
    for index, chat in enumerate(chats):
        title = opening.open_title(chat)[0] or ""
        header = json.dumps(exported_chat(chat.chat_id, chat.type, title), ensure_ascii=False)
        yield ("," if index else "") + header[:-1] + ', "messages": [\n', 0
        first = True
        chat_query = replace(query, chats=(chat.chat_id,), descending=False)
        for batch in opened_pages(chat_query, source):
            lines = []
            for item in batch:
                if item.opened.message is None:
                    continue
                lines.append(
                    ("" if first else ",\n")
                    + json.dumps(as_exported(item.opened.message), ensure_ascii=False)
                )
                first = False
            yield "".join(lines), len(batch)
        yield "\n]}", 0
    yield ("\n]}}\n" if several else "\n"), 0
