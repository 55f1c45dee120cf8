"""The chat's pages beside its conversation: statistics, exports, the senders' names for the
filter's autocomplete, and the viewer's time zone. Each asks ``access.may_read`` before it
shows anything sealed; the admin's URLs (browser.py) route here."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from rest_framework.utils.urls import remove_query_param

from crypto.errors import KeyringError
from messages import audit, cursors, exporting, sortkey
from messages.admin import charts, conversation, stats, timezones
from messages.admin.access import may_read
from messages.admin.filters import MessageFilterForm
from messages.media import thumbnails
from messages.media.blobs.base import BlobStoreError
from messages.models import AuditEntry, MediaFile
from messages.pagination import KeysetPage
from messages.reading import opening
from messages.stores import get_store
from messages.stores.records import ChatRecord, MessageQuery, StoreError

if TYPE_CHECKING:
    from messages.admin.browser import ChatBrowserAdmin

SENDER_LIMIT = 200  # names opened for the autocomplete: the chat's most active senders
FORMATS = {
    "ndjson": ("application/x-ndjson; charset=utf-8", "ndjson"),
    "telegram": ("application/json; charset=utf-8", "json"),
    "html": ("text/html; charset=utf-8", "html"),
}
EXPORT_FILTERS = ("sender", "since", "until", "kind", "thread")


# --- the conversation page's helpers -------------------------------------------------------


def topics(chat: ChatRecord, *, reading: bool) -> list[tuple[int, str]]:
    """The chat's forum topics (id, name) for the topic filter: ids from the cached counts,
    names from each topic's first message (Telegram's thread id is the id of the message
    that created the topic) for readers."""
    found = stats.counts(chat, with_imported=False).topics
    ids = sorted(found)
    names: dict[int, str] = {}
    if reading and ids:
        heads = get_store().get_messages([(chat.chat_id, t) for t in ids])
        for item in opening.open_messages(list(heads.values())):
            created = (item.opened.message or {}).get("forum_topic_created")
            if isinstance(created, dict) and created.get("name"):
                names[item.stored.message_id] = str(created["name"])
    return [(t, f"{names.get(t, f'topic {t}')} ({found[t]})") for t in ids]


def resolve_sender(form: MessageFilterForm, chat: ChatRecord, *, reading: bool) -> int | None:
    """The sender the filter names: a user id as it is, or a name matched (case aside) to
    one of the chat's senders (readers only). A name that matches no one is a form error."""
    value = (form.data.get("sender") or "").strip()
    if not value:
        return None
    if value.lstrip("-").isdigit() and len(value) <= 19:
        return int(value)
    if not reading:
        form.add_error("sender", "Give the sender's user id: names need the decrypt permission.")
        return None
    wanted = value.lstrip("@").casefold()
    for sender_id, name in _sender_names(chat).items():
        if name.casefold() == wanted or name.lstrip("@").casefold() == wanted:
            return sender_id
    form.add_error("sender", f"No one named {value!r} wrote in this chat.")
    return None


def _sender_names(chat: ChatRecord) -> dict[int, str]:
    counted = stats.counts(chat, with_imported=False).senders
    return stats.names(chat.chat_id, [s for s, _ in counted.most_common(SENDER_LIMIT)])


def jump_token(day: date) -> str:
    """A cursor that opens the newest-first listing at ``day`` (in the viewer's zone): the
    page before a key just below the day's first second, i.e. that day's first messages and
    the ones after them, with Newer and Older links around it."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.get_current_timezone())
    key = sortkey.lowest_at(int(start.timestamp()))
    return cursors.encode(cursors.Cursor(key, True, "-date"))


def without_jump(page: KeysetPage) -> KeysetPage:
    """The page's links without the jump's date (their cursor says where they go)."""
    return replace(
        page,
        next=remove_query_param(page.next, "date") if page.next else None,
        previous=remove_query_param(page.previous, "date") if page.previous else None,
    )


def export_query(request: HttpRequest) -> str:
    """The page's filters, as the export buttons carry them."""
    kept = {k: v for k, v in request.GET.items() if k in EXPORT_FILTERS and v}
    return "&".join(f"{k}={v}" for k, v in kept.items()).replace(" ", "+")


# --- statistics ----------------------------------------------------------------------------


def stats_page(admin: ChatBrowserAdmin, request: HttpRequest, chat: ChatRecord) -> HttpResponse:
    reading = may_read(request, chat.chat_id)
    counted = stats.counts(chat, with_imported=reading)
    zone = timezone.get_current_timezone()
    days = stats.per_day(counted, zone)
    top = counted.senders.most_common(stats.TOP)
    names = stats.names(chat.chat_id, [s for s, _ in top]) if reading else {}
    if reading:
        audit.record(request, channel=AuditEntry.ADMIN, action="chat-stats", chat_id=chat.chat_id)
    media = MediaFile.objects.filter(chat_id=chat.chat_id)
    context = admin._context(
        request,
        f"Statistics · {admin._title(request, chat) or f'Chat {chat.chat_id}'}",
        chat=chat,
        chat_title=admin._title(request, chat),
        counted=counted,
        per_day=charts.bars(days, title="Messages per day", every=max(len(days) // 8, 1)),
        per_hour=charts.bars(stats.per_hour(counted, zone), title="Messages by hour", every=3),
        days=len(days),
        busiest=max(days, key=lambda d: d[1]) if days else None,
        top=[(s, n, names.get(s)) for s, n in top],
        media_kinds=stats.media_kinds(counted),
        media_stored=media.filter(status=MediaFile.STORED).count(),
        media_pending=media.filter(status=MediaFile.PENDING).count(),
        received=counted.total - counted.imported if counted.imported is not None else None,
        first=_at(counted.first_date),
        last=_at(counted.last_date),
        ttl_minutes=stats.TTL // 60,
    )
    return TemplateResponse(request, "admin/archive/chat_stats.html", context)


def _at(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


# --- the senders' names for the filter -----------------------------------------------------


def senders(admin: ChatBrowserAdmin, request: HttpRequest, chat: ChatRecord) -> JsonResponse:
    """``[{"id", "name"}]``, the chat's most active senders whose name contains ``q``."""
    if not may_read(request, chat.chat_id):
        raise PermissionDenied
    needle = request.GET.get("q", "").strip().casefold()[:100]
    names = _sender_names(chat)
    found = [{"id": i, "name": n} for i, n in names.items() if needle in n.casefold()]
    audit.record(request, channel=AuditEntry.ADMIN, action="sender-names", chat_id=chat.chat_id)
    response = JsonResponse(found, safe=False)
    response["Cache-Control"] = "private, no-store"
    return response


# --- exports -------------------------------------------------------------------------------


def export(admin: ChatBrowserAdmin, request: HttpRequest, chat: ChatRecord) -> HttpResponseBase:
    """The chat (with the page's filters) as NDJSON, Telegram Desktop's JSON or one HTML page,
    streamed as an attachment; NDJSON with ``proofs=1`` carries a signed checkpoint and each
    message's inclusion proof, as the API's export does (``python -m crypto.verify_export``).
    Audited twice: when it starts (who, chat, format, filters) and when it ends (how many
    messages, and whether it is complete)."""
    if not may_read(request, chat.chat_id):
        raise PermissionDenied
    layout = request.GET.get("format", "")
    if layout not in FORMATS:
        return HttpResponseBadRequest("Say format=ndjson, format=telegram or format=html.")
    if request.GET.get("q"):
        return HttpResponseBadRequest("An export takes the filters, not a search: clear it.")
    proofs = request.GET.get("proofs", "0")
    if proofs not in ("0", "1") or (proofs == "1" and layout != "ndjson"):
        return HttpResponseBadRequest("Say proofs=1 (with format=ndjson) or proofs=0.")
    form = MessageFilterForm(request.GET)
    sender = resolve_sender(form, chat, reading=True)
    if not form.is_valid():
        return HttpResponseBadRequest(
            "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        )
    query = replace(form.query(chat.chat_id, sender), descending=False)
    filters = {k: str(v) for k, v in form.cleaned_data.items() if k in EXPORT_FILTERS and v}
    audit.record(
        request,
        channel=AuditEntry.ADMIN,
        action="chat-export",
        chat_id=chat.chat_id,
        filters={"format": layout, **filters, **({"proofs": "1"} if proofs == "1" else {})},
    )
    content_type, extension = FORMATS[layout]
    if layout == "ndjson":
        chunks: Iterator[tuple[str, int]] = exporting.ndjson([chat], query, proofs=proofs == "1")
        if proofs == "1":
            # Its first chunk is the checkpoint, signed now: a failure to make it is a 5xx
            # before the 200, not a file cut short (docs/transparency.md).
            chunks = itertools.chain([next(chunks)], chunks)
    elif layout == "telegram":
        chunks = exporting.telegram([chat], query)
    else:
        chunks = _html(request, chat, query, filters)
    response = StreamingHttpResponse(
        _counted(request, chat, layout, chunks), content_type=content_type
    )
    name = f"chat-{chat.chat_id}-{timezone.now():%Y%m%d-%H%M}.{extension}"
    response["Content-Disposition"] = content_disposition_header(True, name) or ""
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _counted(
    request: HttpRequest, chat: ChatRecord, layout: str, chunks: Iterator[tuple[str, int]]
) -> Iterator[bytes]:
    written, complete = 0, False
    try:
        for text, count in chunks:
            written += count
            yield text.encode()
        complete = True
    except (StoreError, KeyringError, BlobStoreError) as exc:
        # The 200 is sent: the file ends here, and the audit entry says it is incomplete.
        yield f"\n<!-- incomplete: {type(exc).__name__} -->\n".encode() if layout == "html" else b""
    finally:
        audit.record(
            request,
            channel=AuditEntry.ADMIN,
            action="chat-export-done",
            chat_id=chat.chat_id,
            filters={"format": layout, "messages": written, "complete": complete},
            immediately=True,
        )


def _html(
    request: HttpRequest, chat: ChatRecord, query: MessageQuery, filters: dict[str, str]
) -> Iterator[tuple[str, int]]:
    """One self-contained page: inline CSS, thumbnails as data: URIs, no script, nothing
    fetched from anywhere."""
    title = opening.open_title(chat)[0] or f"Chat {chat.chat_id}"
    head = {
        "chat": chat,
        "chat_title": title,
        "filters": filters,
        "exported_by": request.user.get_username(),
        "exported_at": timezone.now(),
        "zone": timezone.get_current_timezone_name(),
        "since": _at(query.since) if query.since else _at(chat.first_date),
        "until": _at(query.until) if query.until else _at(chat.last_date),
    }
    yield render_to_string("admin/archive/export_head.html", head), 0
    last_day: date | None = None
    for batch in exporting.opened_pages(query):
        days = conversation.layout(
            chat.chat_id, [o.stored for o in batch], [o.opened for o in batch]
        )
        images = _thumbnails(days)
        text = render_to_string(
            "admin/archive/export_days.html",
            {"days": days, "images": images, "last_day": last_day, "chat": chat},
        )
        if days:
            last_day = days[-1].day.date()
        yield text, len(batch)
    yield render_to_string("admin/archive/export_foot.html", head), 0


def _thumbnails(days: list[conversation.Day]) -> dict[int, str]:
    """Each stored image's thumbnail as a data: URI (the page must open offline)."""
    found: dict[int, str] = {}
    for day in days:
        for block in day.blocks:
            for entry in block.entries:
                for row in entry.files:
                    try:
                        data = thumbnails.opened(row)
                    except thumbnails.NoThumbnail:
                        continue
                    found[row.pk] = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    return found


# --- the viewer's time zone ----------------------------------------------------------------


def time_zone_page(admin: ChatBrowserAdmin, request: HttpRequest) -> HttpResponse:
    form = timezones.TimeZoneForm(
        request.POST or None, initial={"time_zone": timezones.zone_of(request)}
    )
    if request.method == "POST" and form.is_valid():
        timezones.save_zone(request, form.cleaned_data["time_zone"])
        return HttpResponseRedirect(reverse("admin:archive_time_zone") + "?saved=1")
    context = admin._context(
        request,
        "Your time zone",
        form=form,
        saved=bool(request.GET.get("saved")),
        now=timezone.now(),
        zone=timezone.get_current_timezone_name(),
    )
    return TemplateResponse(request, "admin/archive/time_zone.html", context)
