"""What the bot can see, per archived chat, and whether the archive has gone blind.

A Telegram archive fails silently: a bot added with privacy mode on sees only commands,
replies to it and mentions; an admin removes or demotes it; Telegram drops updates it could
not deliver. ``gather`` asks Telegram (getMe, getChatMember for every archived chat,
getWebhookInfo) and the archive (each chat's last update, the gaps in update_id) and says,
per chat, whether the bot sees every message: privacy mode off, or the bot an administrator
(a private chat is always seen whole). ``manage.py bot_status`` prints it; ``refresh_if_stale``
keeps the same facts as metrics, at most once a minute per process (for alert rules), from
getMe and the my_chat_member reports archived (not a getChatMember per chat per minute).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from groupie import metrics
from messages.reading import events, opening
from messages.reading.fields import iso_date
from messages.stores import get_store
from messages.stores.records import ChatRecord
from webhooks import gaps
from webhooks.botapi import BotApi, BotApiError

CHECK_EVERY_SECONDS = 60.0
SEES_ALL = ("administrator", "creator")
GONE = ("left", "kicked")
logger = logging.getLogger(__name__)


@dataclass
class ChatStatus:
    chat_id: int
    title: str | None
    bot_status: str | None  # member, administrator, restricted, left, kicked; None: unknown
    sees_all_messages: bool
    last_update: str | None  # ISO 8601: the newest message or event archived
    error: str | None = None  # why Telegram could not say (the status is then the archive's)

    @property
    def removed(self) -> bool:
        return self.bot_status in GONE

    @property
    def blind(self) -> bool:
        return not self.sees_all_messages


@dataclass
class BotStatus:
    can_read_all_group_messages: bool
    pending_update_count: int | None
    update_gaps: int
    chats: list[ChatStatus] = field(default_factory=list)

    def problems(self) -> list[ChatStatus]:
        """Chats the bot was removed from or cannot see whole."""
        return [c for c in self.chats if c.removed or c.blind]

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        for chat in body["chats"]:
            if chat["error"] is None:
                del chat["error"]
        return body


def sees_all(chat_type: str, status: str | None, privacy_off: bool) -> bool:
    if status in GONE:
        return False
    if chat_type == "private":
        return True  # a private chat's messages all go to the bot
    return privacy_off or status in SEES_ALL


def telegram_status(api: BotApi, chat_id: int, bot_id: int) -> tuple[str | None, str | None]:
    """(status, error): getChatMember's status ("creator" as administrator), or the status
    Telegram's refusal means (403: kicked; 400 chat not found: left), or None and why."""
    try:
        status = api.get_chat_member(chat_id, bot_id)["status"]
    except BotApiError as exc:
        if exc.status == 403:
            return "kicked", None
        if exc.status == 400 and "not found" in str(exc):
            return "left", None
        return None, str(exc)
    return ("administrator" if status == "creator" else status), None


def last_update(record: ChatRecord) -> int:
    return max(record.last_date, events.last_event_date(record.chat_id) or 0)


def gather(api: BotApi) -> BotStatus:
    """Asks Telegram and the archive; raises BotApiError when getMe fails (the token is wrong,
    Telegram unreachable). A chat Telegram cannot answer for keeps the status archived."""
    me = api.get_me()
    privacy_off = me.get("can_read_all_group_messages") is True
    try:
        pending: int | None = api.get_webhook_info().pending_update_count
    except BotApiError:
        pending = None
    report = BotStatus(privacy_off, pending, gaps.count())
    for record in get_store().list_chats():
        status, error = telegram_status(api, record.chat_id, me["id"])
        if status is None:
            status = events.bot_membership(record.chat_id).status
        report.chats.append(
            ChatStatus(
                chat_id=record.chat_id,
                title=opening.open_title(record)[0],
                bot_status=status,
                sees_all_messages=sees_all(record.type, status, privacy_off),
                last_update=iso_date(last_update(record)) if last_update(record) else None,
                error=error,
            )
        )
    return report


# -- the same facts as metrics ------------------------------------------------------------------

_lock = threading.Lock()
_checked_at = float("-inf")


def record(privacy_off: bool | None) -> None:
    """Sets the gauges from getMe's answer (None: not known now) and the archive."""
    if privacy_off is not None:
        metrics.BOT_READS_ALL_MESSAGES.set(int(privacy_off))
    gaps.forget_old()
    metrics.TELEGRAM_UPDATE_GAPS.set(gaps.count())
    for chat in get_store().list_chats():
        label = str(chat.chat_id)
        status = events.bot_membership(chat.chat_id).status
        metrics.CHAT_LAST_UPDATE.labels(label).set(last_update(chat))
        metrics.CHAT_BOT_MEMBER.labels(label).set(int(status not in GONE))
        if privacy_off is not None:
            seen = sees_all(chat.type, status, privacy_off)
            metrics.CHAT_SEES_ALL_MESSAGES.labels(label).set(int(seen))


def refresh_if_stale(api: BotApi) -> None:
    """At most once CHECK_EVERY_SECONDS; a failure is logged and counted, never raised (a
    scrape must not fail because Telegram or the store is slow)."""
    global _checked_at
    with _lock:
        now = time.monotonic()
        if now - _checked_at < CHECK_EVERY_SECONDS:
            return
        _checked_at = now
    privacy_off = None
    if api.token:
        try:
            privacy_off = api.get_me().get("can_read_all_group_messages") is True
        except BotApiError as exc:
            metrics.TELEGRAM_CHECK_ERRORS.inc()
            logger.warning("getMe failed: %s", exc)
    try:
        record(privacy_off)
    except Exception as exc:  # the store or database: the next scrape tries again
        logger.warning("bot status metrics not refreshed: %s", type(exc).__name__)


def reset() -> None:
    """Forgets when the status was last refreshed (tests)."""
    global _checked_at
    _checked_at = float("-inf")
