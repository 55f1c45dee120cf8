"""Telegram's Update envelope: which updates carry a message or a chat event the archive
keeps, which are acknowledged and ignored. Plain Python: no Django. The message inside is read by
``messages.telegram``.
"""

from __future__ import annotations

from dataclasses import dataclass

from messages.telegram import IncomingMessage, InvalidMessage, parse_message, read_int
from messages.telegram_events import EVENT_KINDS, IncomingEvent, parse_event

# Update fields that carry a message we archive, and whether they are an edit.
ARCHIVED_UPDATES = {
    "message": False,
    "edited_message": True,
    "channel_post": False,
    "edited_channel_post": True,
    "business_message": False,
    "edited_business_message": True,
}

# Update kinds Telegram documents that we acknowledge and ignore. Anything else is counted as
# "other", so a metric label can never be chosen by whoever sends the request.
KNOWN_IGNORED_UPDATES = frozenset(
    {
        "business_connection",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


class InvalidUpdate(ValueError):
    """The body is not a Telegram Update we can read. The message names the field, no values."""


@dataclass(frozen=True)
class IgnoredUpdate:
    update_id: int
    kind: str  # a KNOWN_IGNORED_UPDATES member or "other"


# Update fields that carry a chat event we archive (``messages.telegram_events``). Telegram
# sends none of them unless asked (allowed_updates), and reactions only to an administrator.
ARCHIVED_EVENTS = EVENT_KINDS


def parse_update(data: object) -> IncomingMessage | IncomingEvent | IgnoredUpdate:
    """Reads a decoded JSON Update; raises InvalidUpdate for anything that is not one."""
    if not isinstance(data, dict):
        raise InvalidUpdate("an Update is a JSON object")
    try:
        update_id = read_int(data, "update_id", "update")
        for field, is_edit in ARCHIVED_UPDATES.items():
            if field in data:
                return parse_message(update_id, field, data[field], is_edit=is_edit)
        for field in ARCHIVED_EVENTS:
            if field in data:
                return parse_event(update_id, field, data[field])
    except InvalidMessage as exc:
        raise InvalidUpdate(str(exc)) from None
    kind = next((k for k in data if k in KNOWN_IGNORED_UPDATES), "other")
    return IgnoredUpdate(update_id=update_id, kind=kind)
