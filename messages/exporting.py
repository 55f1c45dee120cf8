"""The archive written out, decrypted, a page at a time: NDJSON (one API message a line) or
Telegram Desktop's JSON layout. Shared by export_messages and the API's export.

An export is an operator action: ``do_export_messages`` checks the layout, writes the audit
entry ("message-export": the filters, never a search's words) and counts it, whichever surface
asked; ``do_export_to_file`` is export_messages' whole run (a new file, mode 0600)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.http import HttpRequest

from crypto.errors import KeyringError
from groupie.commands import counted
from groupie.progress import Progress
from messages import audit
from messages.models import AuditEntry, LogCheckpoint
from messages.outcome import Outcome, Refused, Stopped
from messages.pagination import Pages
from messages.reading import as_api, opening
from messages.reading.opening import OpenedMessage
from messages.search.query import open_page
from messages.stores import get_store
from messages.stores.records import ChatRecord, MessageQuery, StoreError
from messages.telegram_desktop.write import as_exported, exported_chat
from messages.transparency import proofs as proofs_module

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


def ndjson(
    chats: list[ChatRecord], query: MessageQuery, *, proofs: bool = False
) -> Iterator[tuple[str, int]]:
    """(text, messages in it) chunks: each chat's messages in date order, one per line. With
    ``proofs``, a checkpoint first and each message's proof (``transparency.proofs``)."""
    checkpoint = proofs_module.checkpoint_for_export() if proofs else None
    if checkpoint is not None:
        yield json.dumps(proofs_module.header(checkpoint), ensure_ascii=False) + "\n", 0
    for chat in chats:
        for batch in opened_pages(replace(query, chats=(chat.chat_id,), descending=False)):
            lines = "".join(
                json.dumps(_line(item, checkpoint), ensure_ascii=False) + "\n" for item in batch
            )
            yield lines, len(batch)


def _line(item: OpenedMessage, checkpoint: LogCheckpoint | None) -> dict[str, Any]:
    body = as_api.message(item)
    if checkpoint is not None:
        body["proof"] = proofs_module.proof(item, checkpoint)
    return body


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


Writer = Callable[[list[ChatRecord], MessageQuery], Iterator[tuple[str, int]]]
WRITERS: dict[str, Writer] = {"ndjson": ndjson, "telegram": telegram}


def do_export_messages(
    layout: str, filters: dict[str, Any], *, request: HttpRequest | None = None
) -> Writer:
    """Records an export of ``layout`` ("ndjson" or "telegram") with ``filters`` (as the audit
    log keeps them) and returns its writer. ``request``: the API's (its entry is held until
    the response renders), None for a command. Refused for another layout."""
    if layout not in WRITERS:
        raise Refused(f"{layout!r}: the export formats are {' and '.join(WRITERS)}")
    said = {**filters, "format": layout} if layout != "ndjson" else dict(filters)
    audit.record_action(
        "message-export",
        request=request,
        channel=AuditEntry.API,
        filters=said,
        immediately=False,
    )
    return WRITERS[layout]


def do_export_to_file(
    output: Path,
    layout: str,
    chat_ids: list[int],
    query: MessageQuery,
    progress: Progress,
    *,
    proofs: bool = False,
) -> Outcome:
    """Writes the chats ``chat_ids`` (every chat if empty) to ``output``, a new file created
    0600; refuses an existing file or a chat not in the archive. ``proofs``: NDJSON with a
    signed checkpoint and each message's inclusion proof (docs/transparency.md)."""
    if proofs and layout != "ndjson":
        raise Refused("--proofs goes with --format ndjson")
    if output.exists():
        raise Refused(f"{output} exists: export_messages never overwrites a file")
    wanted = set(chat_ids)
    chats = [c for c in get_store().list_chats() if not wanted or c.chat_id in wanted]
    missing = wanted - {c.chat_id for c in chats}
    if missing:
        raise Refused(f"not in the archive: chat {', '.join(map(str, sorted(missing)))}")
    filters = {
        "chat": sorted(wanted),
        "user": query.user,
        "kind": query.kind,
        "since": query.since,
        "until": query.until,
    }
    if proofs:
        filters["proofs"] = True
    writer = do_export_messages(layout, filters)
    if proofs:
        writer = functools.partial(ndjson, proofs=True)
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        total = sum(c.message_count for c in chats)
        with (
            os.fdopen(descriptor, "w", encoding="utf-8") as out,
            progress.counting(total, "messages") as add,
        ):
            for text, count in writer(chats, query):
                out.write(text)
                written += count
                add(count)
    except (StoreError, KeyringError) as exc:
        raise Stopped(
            f"the archive became unavailable ({type(exc).__name__}) after "
            f"{counted(written, 'message')}; {output} is incomplete: delete it and run again"
        ) from None
    return Outcome(
        f"export_messages: {counted(written, 'message')} of {counted(len(chats), 'chat')} "
        f"to {output} ({layout}, mode 0600)"
    )
