"""The admin's index says where things stand: chats by last activity, messages dated today,
media pending or failed, search indexes, the bot's status (for readers only)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from messages.admin import overview
from messages.models import AuditEntry, MediaFile, SearchIndex
from messages.stores import get_store
from tests.conftest import staff_client

TEAM = -1001234567890123
TITLE = "Quillfeather Release Crew"


def _figure(body: str, name: str) -> str:
    found = re.search(rf'id="overview-{name}"><b[^>]*>([^<]*)</b>', body)
    assert found is not None, name
    return found.group(1)


def _dated_since(since: int) -> int:
    return sum(1 for head in get_store().iter_heads() if head.date >= since)


def test_the_index_counts_what_the_archive_holds(demo: None) -> None:
    MediaFile.objects.filter(pk__in=MediaFile.objects.values("pk")[:1]).update(status="failed")
    SearchIndex.objects.create(chat_id=TEAM, enabled_at=timezone.now())
    media = dict.fromkeys(("pending", "failed"), 0)
    for status in MediaFile.objects.values_list("status", flat=True):
        media[status] = media.get(status, 0) + 1
    body = staff_client(decrypt=False).get("/admin/").content.decode()
    assert _figure(body, "media") == f"{media['pending']} pending · {media['failed']} failed"
    assert _figure(body, "indexes") == "0 ready · 1 building"
    assert "Where things stand" in body


def test_messages_dated_today_are_counted_from_the_viewers_midnight(demo: None) -> None:
    newest = max(c.last_date for c in get_store().list_chats())
    since = int(datetime.fromtimestamp(newest, tz=UTC).replace(hour=0, minute=0).timestamp())
    expected = _dated_since(since)
    assert expected > 0
    chats = get_store().list_chats()
    assert overview.numbers(since, chats).today == expected
    everything = sum(c.message_count for c in chats)
    assert _dated_since(since - 86400 * 3650) == everything
    assert overview.numbers(since - 86400 * 3650, chats).today == everything


def test_readers_see_titles_and_the_bots_status(demo: None) -> None:
    client = staff_client(decrypt=True)
    body = client.get("/admin/").content.decode()
    assert TITLE in body
    assert "to check" in _figure(body, "bot")
    assert "chat-titles" in AuditEntry.objects.values_list("action", flat=True)


def test_staff_who_may_not_read_see_ids_and_no_bot_status(demo: None) -> None:
    body = staff_client(decrypt=False).get("/admin/").content.decode()
    assert TITLE not in body
    assert f"Chat {TEAM}" in body
    assert _figure(body, "bot") == "—"
    assert AuditEntry.objects.count() == 0


def test_chats_are_listed_newest_first(demo: None) -> None:
    body = staff_client(decrypt=False).get("/admin/").content.decode()
    table = body[body.index("Chats by last activity") :]
    shown = [int(i) for i in re.findall(r"browsablechat/(-?\d+)/", table)]
    chats = sorted(get_store().list_chats(), key=lambda c: -c.last_date)
    assert shown[: len(chats[:10])] == [c.chat_id for c in chats[:10]]


def test_the_bots_warning_counts_removed_and_blind_chats(demo: None) -> None:
    chats = get_store().list_chats()
    statuses = overview.bot_statuses(chats)
    warned = [c for c in chats if overview.warning(c, statuses[c.chat_id])]
    body = staff_client(decrypt=True).get("/admin/").content.decode()
    assert _figure(body, "bot").startswith(f"{len(warned)} chat")
    assert timedelta(0) <= timezone.localtime() - overview.midnight() < timedelta(days=1)
