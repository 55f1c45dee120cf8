"""The read API: chats and messages, decrypted, on the store contract (any store backend)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from django.db import DatabaseError
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from crypto.blindindex import Search
from crypto.errors import KeyringError
from messages import audit, cursors, exporting
from messages.access import held_chats, legal_hold
from messages.api.auth import allowed_chats
from messages.api.renderers import FileRenderer, NDJSONRenderer, TelegramExportRenderer
from messages.api.serializers import (
    INT64_MAX,
    INT64_MIN,
    MESSAGE_ID_PATTERN,
    BatchRequestSerializer,
    BatchResponseSerializer,
    ChatPageSerializer,
    ChatSerializer,
    EventFilterSerializer,
    EventPageSerializer,
    MessageDetailSerializer,
    MessageFilterSerializer,
    MessagePageSerializer,
    PageSerializer,
    parse_message_id,
)
from messages.cursors import InvalidCursor
from messages.media import files, serving
from messages.media.files import MediaUnavailable
from messages.models import ApiKey, AuditEntry, LegalHold, LogCheckpoint, MediaFile
from messages.pagination import Pages, cursor_link, paginate, paginate_by_id
from messages.reading import as_api, fields, opening
from messages.reading import events as chat_events
from messages.search import index as search_index
from messages.search import query as search_query
from messages.stores import get_store
from messages.stores.records import ChatRecord, MessageHistory, MessageQuery, StoreError
from messages.transparency import proofs

EXPORT_BATCH = 500
BAD_REQUEST = OpenApiResponse(
    response=OpenApiTypes.OBJECT, description="Invalid parameters: errors by field name."
)
MESSAGE_ID_PARAMETER = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description='"chat_id:message_id"', pattern=MESSAGE_ID_PATTERN
)
LIST_PARAMETERS = {*MessageFilterSerializer().fields, *PageSerializer().fields, "format"}


def _in_scope(request: Request, chat_id: int) -> bool:
    scope = allowed_chats(request)
    return scope is None or chat_id in scope


def _history_in_scope(request: Request, pk: str) -> tuple[int, MessageHistory]:
    """The message ``pk`` ("chat:message") names, if the caller may see its chat; else 404
    (also for a chat outside a key's scope: its existence is not told)."""
    try:
        chat_id, message_id = parse_message_id(pk)
    except ValueError:
        raise NotFound("No such message.") from None
    history = get_store().get_message(chat_id, message_id) if _in_scope(request, chat_id) else None
    if history is None:
        raise NotFound("No such message.")
    return chat_id, history


def _query_data(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The query string as serializer input; unknown parameters are an error, not ignored, so
    a typo (``chats=``) cannot silently widen a listing."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
    data: dict[str, Any] = {k: request.query_params.get(k) for k in request.query_params}
    if "chat" in request.query_params:
        data["chat"] = request.query_params.getlist("chat")
    return data


def _message_query(request: Request, filters: dict[str, Any], limit: int) -> MessageQuery | None:
    """The store query for validated filters within the caller's scope; None if the caller
    may see none of the chats asked for."""
    chats = tuple(filters.get("chat", ()))
    scope = allowed_chats(request)
    if scope is not None:
        chats = tuple(c for c in chats if c in scope) if chats else tuple(sorted(scope))
        if not chats:
            return None
    return MessageQuery(
        chats=chats,
        user=filters.get("user"),
        thread=filters.get("thread"),
        since=filters.get("since"),
        until=filters.get("until"),
        kind=filters.get("kind"),
        edited=filters.get("edited"),
        descending=filters["ordering"] == "-date",
        limit=limit,
    )


def _searched(
    request: Request, filters: dict[str, Any], query: MessageQuery
) -> tuple[MessageQuery, Pages]:
    """The query and what answers it: the store, or for a search, its confirmed matches in
    the indexed chats asked for (all the caller may read, if none is named). A named chat
    without a built index is a 400: its messages would silently be missing."""
    search = filters.get("search")
    if search is None:
        return query, get_store()
    named = set(query.chats) if filters.get("chat") else None
    if named is not None:
        unindexed = sorted(named - search_index.ready(named))
        if unindexed:
            raise ValidationError(
                {
                    "search": [
                        f"Chat {', '.join(map(str, unindexed))} has no search index yet: "
                        "build it with `manage.py build_search_index --chat ID` or in the admin."
                    ]
                }
            )
        chats = named
    else:
        chats = search_index.ready(query.chats) if query.chats else search_index.all_ready()
        if not chats:
            raise ValidationError(
                {"search": ["No chat you can read has a search index yet (build_search_index)."]}
            )
    return search_query.indexed(query, search, chats)


def _audit(request: Request, action: str, **what: Any) -> None:
    """Every response that carries decrypted content is written to the audit log."""
    key = request.auth if isinstance(request.auth, ApiKey) else None
    audit.record(request, channel=AuditEntry.API, action=action, api_key=key, **what)


def _filters_for_audit(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters as the audit log keeps them. Not a search's words: they say what the
    messages found contain, and the log is readable by staff who may not read messages."""
    kept = {k: (list(v) if isinstance(v, tuple | list) else v) for k, v in filters.items()}
    search = filters.get("search")
    if isinstance(search, Search):
        del kept["search"]
        kept["search_terms"] = len(search.terms) + len(search.phrases)
    return kept


def _chat_body(
    request: Request, record: ChatRecord, holds: dict[int, LegalHold] | None = None
) -> dict[str, Any]:
    body = as_api.chat(record, *opening.open_title(record))
    body["bot_status"] = chat_events.bot_membership(record.chat_id).status
    hold = holds.get(record.chat_id) if holds is not None else legal_hold(record.chat_id)
    body["legal_hold"] = (
        {
            "reason": hold.reason,
            "since": fields.iso_date(int(hold.since.timestamp())),
            "by": hold.by,
        }
        if hold
        else None
    )
    for link in ("migrated_to_chat_id", "migrated_from_chat_id"):
        if body[link] is not None and not _in_scope(request, body[link]):
            body[link] = None  # a limited key learns nothing of chats outside its scope
    return body


def _with_media(request: Request, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds to each message's ``media`` where its file stands (``status``: the record's, or
    ``not_kept`` when there is none: media fetching was off) and, once stored, the ``url``
    that serves it. The file is the one of the message's latest version, as that URL's;
    one query for the page."""
    places = [(b["chat_id"], b["message_id"]) for b in bodies if b["media"] is not None]
    found = files.statuses(places)
    for body in bodies:
        media = body["media"]
        if media is None:
            continue
        records = found.get((body["chat_id"], body["message_id"]), [])
        wanted = media["file_unique_id"]
        status = next((s for u, s in records if u == wanted), None) if wanted else None
        if status is None and not wanted and records:
            status = records[0][1]
        media["status"] = status or "not_kept"
        media["url"] = (
            request.build_absolute_uri(reverse("message-media", kwargs={"pk": body["id"]}))
            if status == MediaFile.STORED
            else None
        )
    return bodies


def _with_extras(request: Request, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``_with_media``, and each message's ``reactions`` (one store query per chat)."""
    by_chat: dict[int, list[int]] = {}
    for body in bodies:
        by_chat.setdefault(body["chat_id"], []).append(body["message_id"])
    found = {
        (chat_id, message_id): shown
        for chat_id, message_ids in by_chat.items()
        for message_id, shown in chat_events.reactions(chat_id, message_ids).items()
    }
    for body in bodies:
        body["reactions"] = found.get((body["chat_id"], body["message_id"]), [])
    return _with_media(request, bodies)


def _validated(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ChatViewSet(viewsets.ViewSet):
    lookup_value_regex = r"-?\d{1,19}"

    @extend_schema(
        parameters=[PageSerializer],
        responses={200: ChatPageSerializer, 400: BAD_REQUEST},
        summary="The chats in the archive, by id, in cursor pages",
    )
    def list(self, request: Request) -> Response:
        paging = _validated(PageSerializer, _query_data(request, {"page_size", "cursor", "format"}))
        records = [c for c in get_store().list_chats() if _in_scope(request, c.chat_id)]
        try:
            page = paginate_by_id(
                request,
                records,
                lambda chat: chat.chat_id,
                page_size=paging["page_size"],
                token=paging.get("cursor"),
            )
        except InvalidCursor as exc:
            raise ValidationError({"cursor": [str(exc)]}) from None
        holds = held_chats()  # one query for the page
        body = [_chat_body(request, c, holds) for c in page.items]
        if page.items:
            _audit(request, "chat-list")
        return Response({"next": page.next, "previous": page.previous, "results": body})

    @extend_schema(
        responses={200: ChatSerializer, 404: OpenApiResponse(description="No such chat.")},
        parameters=[
            OpenApiParameter(
                "id",
                {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX},
                OpenApiParameter.PATH,
            )
        ],
        summary="One chat",
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        chat_id = int(pk)
        if not INT64_MIN <= chat_id <= INT64_MAX:
            raise NotFound("No such chat.")
        record = get_store().get_chat(chat_id) if _in_scope(request, chat_id) else None
        if record is None:
            raise NotFound("No such chat.")
        body = _chat_body(request, record)
        _audit(request, "chat-detail", chat_id=chat_id)
        return Response(body)

    @extend_schema(
        parameters=[EventFilterSerializer],
        responses={200: EventPageSerializer, 400: BAD_REQUEST},
        summary="The chat's membership events (joins, leaves, promotions, restrictions, bans, "
        "the bot's own), in cursor pages",
    )
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str) -> Response:
        chat_id = int(pk)
        if not INT64_MIN <= chat_id <= INT64_MAX or not _in_scope(request, chat_id):
            raise NotFound("No such chat.")
        paging = _validated(
            EventFilterSerializer,
            _query_data(request, {"page_size", "cursor", "ordering", "format"}),
        )
        # The cursor names the listing it belongs to: a message page's cannot pass for one.
        listing = f"events:{paging['ordering']}"
        after = None
        if paging.get("cursor"):
            try:
                after = cursors.decode(
                    paging["cursor"], listing, check=chat_events.check_sort_key
                ).sort_key
            except InvalidCursor as exc:
                raise ValidationError({"cursor": [str(exc)]}) from None
        page, results = chat_events.member_events(
            chat_id,
            descending=paging["ordering"] == "-date",
            after=after,
            limit=paging["page_size"],
        )
        following = None
        if page.has_more:
            cursor = cursors.Cursor(page.items[-1].sort_key, False, listing)
            following = cursor_link(request.build_absolute_uri(), cursor)
        if results:
            _audit(request, "chat-events", chat_id=chat_id)
        return Response({"next": following, "previous": None, "results": results})


class MessageViewSet(viewsets.ViewSet):
    lookup_value_regex = r"-?\d{1,19}:\d{1,19}"

    @extend_schema(
        parameters=[MessageFilterSerializer, PageSerializer],
        responses={200: MessagePageSerializer, 400: BAD_REQUEST},
        summary="Messages, one entry per message (its latest version), in cursor pages",
    )
    def list(self, request: Request) -> Response:
        data = _query_data(request, LIST_PARAMETERS)
        filters = _validated(MessageFilterSerializer, data)
        paging = _validated(PageSerializer, data)
        query = _message_query(request, filters, paging["page_size"])
        if query is None:
            return Response({"next": None, "previous": None, "results": []})
        query, source = _searched(request, filters, query)
        try:
            page = paginate(
                source,
                request,
                query,
                ordering=filters["ordering"],
                token=paging.get("cursor"),
            )
        except InvalidCursor as exc:
            raise ValidationError({"cursor": [str(exc)]}) from None
        results = _with_extras(
            request, [as_api.message(m) for m in search_query.open_page(source, page.items)]
        )
        if results:
            _audit(
                request,
                "message-list",
                message_ids=[r["id"] for r in results],
                filters=_filters_for_audit(filters),
            )
        return Response({"next": page.next, "previous": page.previous, "results": results})

    @extend_schema(
        responses={
            200: MessageDetailSerializer,
            404: OpenApiResponse(description="No such message."),
        },
        parameters=[MESSAGE_ID_PARAMETER],
        summary="One message with every version and the raw Telegram object",
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        chat_id, history = _history_in_scope(request, pk)
        head, revisions = opening.open_history(history)
        [body] = _with_extras(request, [as_api.message_detail(head, revisions)])
        _audit(request, "message-detail", chat_id=chat_id, message_ids=[body["id"]])
        return Response(body)

    @extend_schema(
        parameters=[
            MESSAGE_ID_PARAMETER,
            OpenApiParameter(
                "file",
                str,
                description="A file_unique_id of one of the message's versions; default: the "
                "file of its latest version.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such message, or its file is not stored."),
            409: OpenApiResponse(description="The stored file does not open (damaged)."),
        },
        summary="The message's file (photo, document, voice...), decrypted as it streams",
    )
    @action(detail=True, methods=["get"], renderer_classes=[FileRenderer])
    def media(self, request: Request, pk: str) -> StreamingHttpResponse | Response:
        _query_data(request, {"file"})  # an unknown parameter is a 400, as everywhere
        chat_id, history = _history_in_scope(request, pk)
        try:
            row, message = serving.message_file(
                chat_id, history.head.message_id, history, request.query_params.get("file")
            )
        except serving.NotStored as exc:
            raise NotFound(str(exc)) from None
        key = request.auth if isinstance(request.auth, ApiKey) else None
        try:
            return serving.stream(
                request,
                row,
                channel=AuditEntry.API,
                name=serving.file_name(row, message),
                api_key=key,
            )
        except MediaUnavailable as exc:
            return Response({"detail": f"The {row.kind} cannot be opened: {exc}."}, status=409)

    @extend_schema(
        request=BatchRequestSerializer,
        responses={200: BatchResponseSerializer, 400: BAD_REQUEST},
        summary="Up to 500 messages by id, in the order asked",
    )
    @action(detail=False, methods=["post"])
    def batch(self, request: Request) -> Response:
        ids = _validated(BatchRequestSerializer, request.data)["ids"]
        wanted = list(dict.fromkeys(ids))  # once each, in the order asked
        visible = [i for i in wanted if _in_scope(request, i[0])]
        found = get_store().get_messages(visible)
        ordered = [found[i] for i in wanted if i in found]
        results = _with_extras(request, [as_api.message(m) for m in opening.open_messages(ordered)])
        if results:
            _audit(request, "message-batch", message_ids=[r["id"] for r in results])
        return Response(
            {
                "results": results,
                "not_found": [as_api.message_id(*i) for i in wanted if i not in found],
            }
        )

    @extend_schema(
        parameters=[
            MessageFilterSerializer,
            OpenApiParameter(
                "format",
                str,
                enum=["ndjson", "telegram"],
                description="ndjson (default): one message a line, newest first. telegram: "
                "Telegram Desktop's JSON export layout, each chat's messages in date order.",
            ),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (400, "application/json"): BAD_REQUEST,
            (400, "application/x-ndjson"): BAD_REQUEST,
        },
        summary="Every matching message, streamed: NDJSON or Telegram Desktop's layout",
    )
    @action(
        detail=False,
        methods=["get"],
        renderer_classes=[NDJSONRenderer, JSONRenderer, TelegramExportRenderer],
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        allowed = {*MessageFilterSerializer().fields, "format", "proofs"}
        filters = _validated(MessageFilterSerializer, _query_data(request, allowed))
        layout = request.query_params.get("format") or "ndjson"
        if layout not in exporting.WRITERS:
            raise ValidationError({"format": ["Use ndjson or telegram."]})
        with_proofs = request.query_params.get("proofs", "0")
        if with_proofs not in ("0", "1") or (with_proofs == "1" and layout != "ndjson"):
            raise ValidationError({"proofs": ["Use 1 (with format=ndjson) or 0."]})
        query = _message_query(request, filters, EXPORT_BATCH)
        source: Pages = get_store()
        if query is not None:
            query, source = _searched(request, filters, query)
        # The export is unbounded: its entry records the filter, not every id.
        exporting.do_export_messages(layout, _filters_for_audit(filters), request=request)
        if layout == "telegram":
            chunks = _telegram_chunks(request, query, source)
            response = StreamingHttpResponse(chunks, content_type="application/json; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="result.json"'
            return response
        # The checkpoint is made before the 200 goes: a failure here is still a 503.
        checkpoint = proofs.checkpoint_for_export() if with_proofs == "1" else None
        response = StreamingHttpResponse(
            _export_lines(request, query, source, checkpoint),
            content_type="application/x-ndjson; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="messages.ndjson"'
        return response


def _telegram_chunks(
    request: Request, query: MessageQuery | None, source: Pages
) -> Iterator[bytes]:
    """The export in Telegram Desktop's layout, one chat after another (the chats the query
    and the key allow). An outage midway ends the stream early: the JSON is then incomplete."""
    if query is None:
        yield b'{"about": "Exported by groupie.", "chats": {"list": []}}\n'
        return
    store = get_store()
    chats = [
        c
        for c in store.list_chats()
        if _in_scope(request, c.chat_id) and (not query.chats or c.chat_id in query.chats)
    ]
    try:
        ordered = sorted(chats, key=lambda c: c.chat_id)
        for text, _ in exporting.telegram(ordered, query, source=source):
            yield text.encode()
    except (StoreError, KeyringError):
        return


def _export_lines(
    request: Request,
    query: MessageQuery | None,
    source: Pages,
    checkpoint: LogCheckpoint | None = None,
) -> Iterator[bytes]:
    """One page of the store at a time: memory stays constant whatever the archive's size.
    With a checkpoint, it comes first and each message carries its proof against it."""
    if checkpoint is not None:
        yield json.dumps(proofs.header(checkpoint)).encode() + b"\n"
    if query is None:
        return
    store = source
    after: str | None = None
    while True:
        try:
            page = store.query(replace(query, after=after))
            opened = search_query.open_page(store, page.items)
            bodies = _with_extras(request, [as_api.message(item) for item in opened])
            if checkpoint is not None:
                for body, item in zip(bodies, opened, strict=True):
                    body["proof"] = proofs.proof(item, checkpoint)
        except (StoreError, KeyringError, DatabaseError) as exc:
            # The 200 is already sent: the last line says the export is incomplete.
            yield json.dumps({"error": {"type": type(exc).__name__, "complete": False}}).encode()
            yield b"\n"
            return
        for body in bodies:
            yield json.dumps(body, ensure_ascii=False).encode() + b"\n"
        if not page.has_more:
            return
        after = page.items[-1].sort_key
