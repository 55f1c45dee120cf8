"""The archive browser in the admin: chats, a chat's messages, a message's history.

Built on the store contract (not on ModelAdmin querysets), so it works with any store backend.
Staff see metadata; text, names, titles and raw JSON need ``archive.view_decrypted``, and every
page that shows them is written to the audit log.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib import messages as notices
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, re_path, reverse
from django.views.decorators.http import require_POST

from crypto.blindindex import BadSearch, Search
from crypto.chatkeys import is_shredded
from crypto.errors import KeyringError
from messages import audit, cursors
from messages.access import legal_hold
from messages.admin import chatpages, conversation
from messages.admin.access import may_read, may_see
from messages.admin.filters import PAGE_SIZE, MessageFilterForm
from messages.admin.readonly import ReadOnlyAdmin
from messages.cursors import InvalidCursor
from messages.media import files, serving, thumbnails
from messages.media.files import MediaUnavailable
from messages.models import AuditEntry, BrowsableChat, MediaFile, SearchIndex
from messages.pagination import paginate
from messages.reading import as_admin, events, opening
from messages.search import index as search_index
from messages.search import query as search_query
from messages.search import scan
from messages.search.actions import do_turn_off_search_index, do_turn_on_search_index
from messages.stores import get_store
from messages.stores.records import (
    ChatRecord,
    MessageQuery,
    ShreddedChat,
    StoredMessage,
    StoredRevision,
    StoreError,
)

MEMBER_EVENTS_SHOWN = 50  # the newest; the API pages through all of them
MANAGE_INDEX_PERMISSION = "archive.manage_search_index"


class ChatShredded(Exception):
    def __init__(self, chat: ShreddedChat) -> None:
        self.chat = chat


def can_decrypt(request: HttpRequest, chat_id: int | None = None) -> bool:
    return may_read(request, chat_id)


@admin.register(BrowsableChat)
class ChatBrowserAdmin(ReadOnlyAdmin):
    """Every active staff member may browse metadata; decryption needs the permission."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            re_path(r"^$", wrap(self.chat_list), name="archive_browsablechat_changelist"),
            re_path(r"^time-zone/$", wrap(self.time_zone), name="archive_time_zone"),
            re_path(r"^(?P<chat_id>-?\d{1,19})/$", wrap(self.chat_messages), name="archive_chat"),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/stats/$",
                wrap(self.chat_stats),
                name="archive_chat_stats",
            ),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/export/$",
                wrap(self.chat_export),
                name="archive_chat_export",
            ),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/senders/$",
                wrap(self.chat_senders),
                name="archive_chat_senders",
            ),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/search-index/$",
                wrap(require_POST(self.search_index_switch)),
                name="archive_chat_search_index",
            ),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/(?P<message_id>\d{1,19})/$",
                wrap(self.message_detail),
                name="archive_message",
            ),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/(?P<message_id>\d{1,19})/media/(?P<media_id>\d{1,19})/$",
                wrap(self.media_download),
                name="archive_media",
            ),
            re_path(
                r"^(?P<chat_id>-?\d{1,19})/(?P<message_id>\d{1,19})/media/(?P<media_id>\d{1,19})/thumbnail/$",
                wrap(self.media_thumbnail),
                name="archive_media_thumbnail",
            ),
        ]

    # The pages below are in chatpages.py; each goes through _chat (a shredded chat's is 410).
    def chat_stats(self, request: HttpRequest, chat_id: str) -> HttpResponseBase:
        return self._with_chat(request, chat_id, chatpages.stats_page)

    def chat_export(self, request: HttpRequest, chat_id: str) -> HttpResponseBase:
        return self._with_chat(request, chat_id, chatpages.export)

    def chat_senders(self, request: HttpRequest, chat_id: str) -> HttpResponseBase:
        return self._with_chat(request, chat_id, chatpages.senders)

    def time_zone(self, request: HttpRequest) -> HttpResponseBase:
        return chatpages.time_zone_page(self, request)

    def _with_chat(self, request: HttpRequest, chat_id: str, page: Any) -> HttpResponseBase:
        try:
            chat = self._chat(request, int(chat_id))
        except ChatShredded as gone:
            return self._shredded(request, gone.chat)
        response: HttpResponseBase = page(self, request, chat)
        return response

    def media_thumbnail(
        self, request: HttpRequest, chat_id: str, message_id: str, media_id: str
    ) -> HttpResponseBase:
        """A stored image's thumbnail, with the file's own checks; the file itself when it
        has none (made before thumbnails were)."""
        if not _storable(int(chat_id)) or not may_see(request, int(chat_id)):
            raise Http404("No such file.")
        if not can_decrypt(request, int(chat_id)):
            raise PermissionDenied
        row = self._media_row(chat_id, message_id, media_id)
        try:
            return serving.thumbnail(request, row, channel=AuditEntry.ADMIN)
        except thumbnails.NoThumbnail:
            return self.media_download(request, chat_id, message_id, media_id)

    def _media_row(self, chat_id: str, message_id: str, media_id: str) -> MediaFile:
        if not (
            _storable(int(chat_id)) and _storable(int(message_id)) and _storable(int(media_id))
        ):
            raise Http404("No such file.")
        row = MediaFile.objects.filter(
            pk=int(media_id), chat_id=int(chat_id), message_id=int(message_id)
        ).first()
        if row is None or row.status != MediaFile.STORED:
            raise Http404("No such file.")
        return row

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "can_decrypt": can_decrypt(request),
            **extra,
        }

    def _chat(self, request: HttpRequest, chat_id: int) -> ChatRecord:
        """The chat, if it exists for this user: one they may not see is not found, as one
        that never was (shredded or not)."""
        if not _storable(chat_id) or not may_see(request, chat_id):
            raise Http404("No such chat.")
        store = get_store()
        chat = store.get_chat(chat_id)
        if chat is None:
            keys = store.get_chat_keys(chat_id)
            if is_shredded(keys):
                raise ChatShredded(ShreddedChat(chat_id, keys[-1].changed_at))
            raise Http404("No such chat.")
        return chat

    def _shredded(self, request: HttpRequest, chat: ShreddedChat) -> HttpResponse:
        """Gone for good, and the page says so rather than "not found"."""
        context = self._context(request, f"Chat {chat.chat_id}", shredded=chat)
        return TemplateResponse(request, "admin/archive/chat_shredded.html", context, status=410)

    def _title(self, request: HttpRequest, chat: ChatRecord) -> str | None:
        return opening.open_title(chat)[0] if can_decrypt(request, chat.chat_id) else None

    def chat_list(self, request: HttpRequest) -> HttpResponse:
        store = get_store()
        chats = [c for c in store.list_chats() if may_see(request, c.chat_id)]
        shredded = [c for c in store.shredded_chats() if may_see(request, c.chat_id)]
        rows = [
            {
                "chat": c,
                "title": self._title(request, c),
                # A link to a chat this user does not see would tell it exists.
                "migrated_to": _seen(request, c.migrated_to_chat_id),
                "migrated_from": _seen(request, c.migrated_from_chat_id),
            }
            for c in chats
        ]
        if can_decrypt(request) and chats:
            audit.record(request, channel=AuditEntry.ADMIN, action="chat-list")
        context = self._context(request, "Chats", rows=rows, shredded=shredded)
        return TemplateResponse(request, "admin/archive/chat_list.html", context)

    def chat_messages(self, request: HttpRequest, chat_id: str) -> HttpResponse:
        try:
            chat = self._chat(request, int(chat_id))
        except ChatShredded as gone:
            return self._shredded(request, gone.chat)
        reading = can_decrypt(request, chat.chat_id)
        # Every field is optional, so an empty query string is a valid, unfiltered form.
        form = MessageFilterForm(request.GET)
        form.topics(chatpages.topics(chat, reading=reading))
        sender = chatpages.resolve_sender(form, chat, reading=reading)
        if not form.is_valid():
            days, links, searched = [], None, None
            if reading:  # the page still shows the chat's decrypted title
                audit.record(
                    request, channel=AuditEntry.ADMIN, action="chat-detail", chat_id=chat.chat_id
                )
        else:
            if form.cleaned_data.get("q") and not reading:
                raise PermissionDenied("Searching needs the permission to read decrypted text.")
            days, links, searched = self._messages(request, chat.chat_id, form, sender)
        context = self._context(
            request,
            self._title(request, chat) or f"Chat {chat.chat_id}",
            chat=chat,
            form=form,
            days=days,
            links=links,
            searched=searched,
            export_query=chatpages.export_query(request),
            search_index=SearchIndex.objects.filter(chat_id=chat.chat_id).first(),
            can_manage_index=request.user.has_perm(MANAGE_INDEX_PERMISSION),
            legal_hold=legal_hold(chat.chat_id),
            **self._chat_events(request, chat),
        )
        return TemplateResponse(request, "admin/archive/chat_messages.html", context)

    def _chat_events(self, request: HttpRequest, chat: ChatRecord) -> dict[str, Any]:
        """The bot's status in the chat (a warning when it was removed or sees little) and
        the membership events: both decrypted, so for readers with the permission only."""
        if not can_decrypt(request, chat.chat_id):
            return {}
        status = events.bot_membership(chat.chat_id).status
        # Whether privacy mode is off only Telegram's getMe says (bot_status asks it): the
        # page warns of what the archived reports show, a group where the bot is no admin.
        blind = status in ("member", "restricted") and chat.type != "private"
        _, member_events = events.member_events(chat.chat_id, limit=MEMBER_EVENTS_SHOWN)
        return {
            "bot": {"status": status, "removed": status in ("left", "kicked"), "blind": blind},
            "member_events": member_events,
        }

    def search_index_switch(self, request: HttpRequest, chat_id: str) -> HttpResponse:
        """Turns the chat's search index on (built in the background) or off (its tokens
        deleted); needs ``archive.manage_search_index``."""
        if not request.user.has_perm(MANAGE_INDEX_PERMISSION):
            raise PermissionDenied
        try:
            chat = self._chat(request, int(chat_id))
        except ChatShredded as gone:
            return self._shredded(request, gone.chat)
        if request.POST.get("index") == "on":
            if do_turn_on_search_index(chat.chat_id, request=request):
                notices.success(
                    request,
                    "Search index turned on. It is being built in the background; searches "
                    "here use it once it is ready, and scan the chat until then.",
                )
        elif request.POST.get("index") == "off":
            dropped = do_turn_off_search_index(chat.chat_id, request=request)
            notices.success(request, f"Search index turned off; {dropped} tokens deleted.")
        else:
            raise Http404("Say index=on or index=off.")
        return HttpResponseRedirect(reverse("admin:archive_chat", args=[chat.chat_id]))

    def _messages(
        self, request: HttpRequest, chat_id: int, form: MessageFilterForm, sender: int | None
    ) -> Any:
        query = form.query(chat_id, sender)
        needle = form.cleaned_data.get("q")
        token = request.GET.get("cursor")
        if needle:
            return self._search(request, query, needle, token)
        if token is None and form.cleaned_data.get("date"):
            token = chatpages.jump_token(form.cleaned_data["date"])
        try:
            page = paginate(get_store(), request, query, ordering="-date", token=token)
        except InvalidCursor:
            raise Http404("That page link is not valid; start again from the chat.") from None
        reading = can_decrypt(request, chat_id)
        opened = opening.open_messages(page.items) if reading else None
        days = conversation.layout(
            chat_id, page.items, [o.opened for o in opened] if opened is not None else None
        )
        if opened is not None:  # even an empty page shows the decrypted title
            audit.record(
                request,
                channel=AuditEntry.ADMIN,
                action="message-list",
                chat_id=chat_id,
                message_ids=[f"{m.chat_id}:{m.message_id}" for m in page.items],
                filters=_audit_filters(form),
            )
        return days, chatpages.without_jump(page), None

    def _search(
        self, request: HttpRequest, query: MessageQuery, needle: str, token: str | None
    ) -> Any:
        """With the chat's index when it is built; else by scanning the chat."""
        try:
            search = Search.parse(needle)
        except BadSearch as exc:
            return [], None, {"error": str(exc)}
        if search_index.ready(query.chats):
            return self._indexed_search(request, query, search, needle, token)
        try:
            after = cursors.decode(token, "search").sort_key if token else None
        except InvalidCursor:
            raise Http404("That search link is not valid; search again.") from None
        result = scan.search(get_store(), query, search, want=PAGE_SIZE, after=after)
        found = [m.stored for m in result.matches]
        days = conversation.layout(query.chats[0], found, [m.opened for m in result.matches])
        _audit_search(request, query, found, needle, scanned=result.scanned)
        resume = (
            cursors.encode(cursors.Cursor(result.resume_after, False, "search"))
            if result.resume_after
            else None
        )
        searched = {
            "scanned": result.scanned,
            "found": len(found),
            "oldest": result.oldest_date,
            "resume": resume,
        }
        return days, None, searched

    def _indexed_search(
        self,
        request: HttpRequest,
        query: MessageQuery,
        search: Search,
        needle: str,
        token: str | None,
    ) -> Any:
        query, source = search_query.indexed(query, search, query.chats)
        try:
            page = paginate(source, request, query, ordering="-date", token=token)
        except InvalidCursor:
            raise Http404("That search link is not valid; search again.") from None
        opened = search_query.open_page(source, page.items)
        days = conversation.layout(
            query.chats[0], [m.stored for m in opened], [m.opened for m in opened]
        )
        _audit_search(request, query, page.items, needle, indexed=True)
        return days, page, {"indexed": True, "found": len(opened)}

    def message_detail(self, request: HttpRequest, chat_id: str, message_id: str) -> HttpResponse:
        try:
            chat = self._chat(request, int(chat_id))
        except ChatShredded as gone:
            return self._shredded(request, gone.chat)
        if not _storable(int(message_id)):
            raise Http404("No such message.")
        history = get_store().get_message(chat.chat_id, int(message_id))
        if history is None:
            raise Http404("No such message.")
        head, raw = history.head, None
        revisions: list[tuple[StoredRevision, opening.Opened | None]]
        if can_decrypt(request, chat.chat_id):
            opened_head, opened_revisions = opening.open_history(history)
            revisions = [(r.stored, r.opened) for r in opened_revisions]
            if opened_head.opened.message is not None:
                raw = json.dumps(opened_head.opened.message, indent=2, ensure_ascii=False)
            audit.record(
                request,
                channel=AuditEntry.ADMIN,
                action="message-detail",
                chat_id=chat.chat_id,
                message_ids=[f"{chat.chat_id}:{head.message_id}"],
            )
            row = as_admin.row(head, opened_head.opened)
        else:
            revisions = [(r, None) for r in history.revisions]
            row = as_admin.row(head, None)
        reply = (
            get_store().get_messages([(chat.chat_id, head.reply_to_message_id)])
            if head.reply_to_message_id
            else {}
        )
        context = self._context(
            request,
            f"Message {head.message_id}",
            chat=chat,
            chat_title=self._title(request, chat),
            row=row,
            revisions=[as_admin.revision(stored, opened) for stored, opened in revisions],
            reply_exists=bool(reply),
            raw=raw,
            media_files=_with_trouble(
                MediaFile.objects.filter(chat_id=chat.chat_id, message_id=head.message_id)
            ),
            reactions=(
                events.reactions(chat.chat_id, [head.message_id]).get(head.message_id, [])
                if can_decrypt(request, chat.chat_id)
                else []
            ),
        )
        return TemplateResponse(request, "admin/archive/message_detail.html", context)

    def media_download(
        self, request: HttpRequest, chat_id: str, message_id: str, media_id: str
    ) -> HttpResponseBase:
        """A message's file, decrypted as it streams; needs the decrypt permission, audited."""
        if not _storable(int(chat_id)) or not may_see(request, int(chat_id)):
            raise Http404("No such file.")
        if not can_decrypt(request, int(chat_id)):
            raise PermissionDenied
        if not (
            _storable(int(chat_id)) and _storable(int(message_id)) and _storable(int(media_id))
        ):
            raise Http404("No such file.")
        row = MediaFile.objects.filter(
            pk=int(media_id), chat_id=int(chat_id), message_id=int(message_id)
        ).first()
        history = get_store().get_message(int(chat_id), int(message_id))
        if row is None or history is None:
            raise Http404("No such file.")
        try:
            row, message = serving.message_file(
                row.chat_id, row.message_id, history, row.file_unique_id
            )
            return serving.stream(
                request, row, channel=AuditEntry.ADMIN, name=serving.file_name(row, message)
            )
        except serving.NotStored as exc:
            raise Http404(str(exc)) from None
        except MediaUnavailable as exc:
            context = self._context(request, "File unavailable", error=str(exc), row=row)
            return TemplateResponse(
                request, "admin/archive/media_unavailable.html", context, status=409
            )


def _with_trouble(rows: QuerySet[MediaFile]) -> list[tuple[MediaFile, str | None]]:
    """A message's files, newest first, each with what keeps a stored one from being shown:
    None when it opens, ``unavailable`` in an outage of the media store or the keyring, else
    why it is damaged. A file that does not open is never shown as stored (with a broken
    image beside it)."""
    found: list[tuple[MediaFile, str | None]] = []
    for row in rows.order_by("-created_at"):
        trouble = None
        if row.status == MediaFile.STORED:
            try:
                trouble = files.damage(row)
            except (StoreError, KeyringError):
                trouble = "unavailable"
        found.append((row, trouble))
    return found


def _seen(request: HttpRequest, chat_id: int | None) -> int | None:
    return chat_id if chat_id is not None and may_see(request, chat_id) else None


def _storable(value: int) -> bool:
    """Whether an id from a URL fits the stores' 64-bit integers (a larger one names nothing)."""
    return -(2**63) <= value < 2**63


def _audit_search(
    request: HttpRequest,
    query: MessageQuery,
    found: list[StoredMessage],
    needle: str,
    **how: Any,
) -> None:
    audit.record(
        request,
        channel=AuditEntry.ADMIN,
        action="search",
        chat_id=query.chats[0],
        message_ids=[f"{m.chat_id}:{m.message_id}" for m in found],
        # The search text says what the matching messages contain; the log is readable by
        # staff who may not read messages, so it keeps the text's length, not the text.
        filters={"search_length": len(needle), **how},
    )


def _audit_filters(form: MessageFilterForm) -> dict[str, Any]:
    return {k: str(v) for k, v in form.cleaned_data.items() if v not in (None, "")}
