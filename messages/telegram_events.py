"""What happens in a chat besides its messages, as Telegram's Bot API (7.0 and later) reports
it: reactions (``message_reaction``: one person's, ``message_reaction_count``: Telegram's
totals, anonymous reactions included) and membership (``chat_member``: anyone's,
``my_chat_member``: the bot's own). Plain Python: no Django.

As for messages, only the fields the archive indexes on in plain are validated and extracted
(the chat, the message reacted to, the date); the whole object is what gets sealed. Who reacted
with what, who joined, who did it: all of it is content, kept only inside the envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messages.telegram import InvalidMessage, read_id, read_int
from messages.telegram import _chat_title as chat_title_of  # as a message's chat is titled

# Update fields that carry a chat event the archive keeps.
REACTION, REACTION_COUNT = "message_reaction", "message_reaction_count"
CHAT_MEMBER, MY_CHAT_MEMBER = "chat_member", "my_chat_member"
EVENT_KINDS = (REACTION, REACTION_COUNT, CHAT_MEMBER, MY_CHAT_MEMBER)
REACTION_KINDS = (REACTION, REACTION_COUNT)
MEMBER_KINDS = (CHAT_MEMBER, MY_CHAT_MEMBER)
# A ChatMember's status, as Telegram names them ("creator" is the owner).
STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
_MAX_DATE = 253_402_300_799
_MAX_CHAT_TYPE = 16


@dataclass(frozen=True)
class IncomingEvent:
    update_id: int  # the event's identity: Telegram redelivers an update with the same id
    kind: str  # one of EVENT_KINDS
    chat_id: int
    chat_type: str
    message_id: int  # the message reacted to; 0 for membership events
    date: int
    raw: Mapping[str, Any]  # the whole object: the sealed plaintext
    chat_title: str | None = None  # sealed into the chat's directory entry, never kept plain

    @property
    def update_kind(self) -> str:
        return self.kind


def parse_event(update_id: int, kind: str, event: object) -> IncomingEvent:
    """Reads the object in an Update's ``kind`` field; raises InvalidMessage (naming the
    field, never a value) for anything that is not one."""
    if not isinstance(event, dict):
        raise InvalidMessage(f"{kind} is not an object")
    chat = event.get("chat")
    if not isinstance(chat, dict):
        raise InvalidMessage(f"{kind}.chat is missing")
    chat_type = chat.get("type")
    if not isinstance(chat_type, str) or not chat_type:
        raise InvalidMessage(f"{kind}.chat.type is missing")
    if len(chat_type) > _MAX_CHAT_TYPE or not chat_type.isprintable():
        raise InvalidMessage(f"{kind}.chat.type is not a chat type")
    date = read_int(event, "date", kind, minimum=0)
    if date > _MAX_DATE:
        raise InvalidMessage(f"{kind}.date is out of range")
    if kind in REACTION_KINDS:
        message_id = read_id(event, "message_id", kind, minimum=1)
        _check_reactions(event, kind)
    else:
        message_id = 0
        _check_members(event, kind)
    return IncomingEvent(
        update_id=update_id,
        kind=kind,
        chat_id=read_id(chat, "id", f"{kind}.chat"),
        chat_type=chat_type,
        message_id=message_id,
        date=date,
        raw=event,
        chat_title=chat_title_of(chat),
    )


def _check_reactions(event: Mapping[str, Any], kind: str) -> None:
    fields = ("reactions",) if kind == REACTION_COUNT else ("old_reaction", "new_reaction")
    for field in fields:
        if not isinstance(event.get(field), list):
            raise InvalidMessage(f"{kind}.{field} must be a list")
    if kind == REACTION:
        # One of them says who reacted (actor_chat: anonymously, on behalf of a chat).
        actors = [event.get(k) for k in ("user", "actor_chat") if event.get(k) is not None]
        if not actors:
            raise InvalidMessage(f"{kind}.user is missing")
        for actor in actors:
            if not isinstance(actor, dict):
                raise InvalidMessage(f"{kind}.user is not an object")
            read_id(actor, "id", f"{kind}.user")


def _check_members(event: Mapping[str, Any], kind: str) -> None:
    for field in ("from", "old_chat_member", "new_chat_member"):
        if not isinstance(event.get(field), dict):
            raise InvalidMessage(f"{kind}.{field} is missing")
    read_id(event["from"], "id", f"{kind}.from")
    for field in ("old_chat_member", "new_chat_member"):
        member = event[field]
        if member.get("status") not in STATUSES:
            raise InvalidMessage(f"{kind}.{field}.status is not a status")
        user = member.get("user")
        if not isinstance(user, dict):
            raise InvalidMessage(f"{kind}.{field}.user is missing")
        read_id(user, "id", f"{kind}.{field}.user")


# -- reading an opened event (what the API and the admin show) --------------------------------


def reaction_key(reaction: object) -> tuple[str, str] | None:
    """A ReactionType as ("emoji", "👍") or ("custom_emoji_id", "5368…"), or ("paid", "")
    for a paid (star) reaction; None for anything else."""
    if not isinstance(reaction, dict):
        return None
    kind = reaction.get("type")
    if kind == "emoji" and isinstance(reaction.get("emoji"), str):
        return ("emoji", reaction["emoji"])
    if kind == "custom_emoji" and isinstance(reaction.get("custom_emoji_id"), str):
        return ("custom_emoji_id", reaction["custom_emoji_id"])
    if kind == "paid":
        return ("paid", "")
    return None


def reactor(event: Mapping[str, Any]) -> tuple[str, int] | None:
    """Who a message_reaction is from: ("user", id) or ("chat", id) for an anonymous admin."""
    for field, label in (("user", "user"), ("actor_chat", "chat")):
        actor = event.get(field)
        if isinstance(actor, dict) and isinstance(actor.get("id"), int):
            return (label, actor["id"])
    return None


def reactions_of(events: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """A message's reactions from its opened events, oldest first, as ``[{"emoji": "👍",
    "count": 3}]`` (or ``"custom_emoji_id"``; ``"paid": true`` for star reactions), most
    counted first.

    Telegram's latest totals (message_reaction_count) where it sent any: they include
    anonymous reactions, which per-user events never show. Otherwise counted from each
    person's latest message_reaction (their current choice replaces their earlier one)."""
    totals = [raw for kind, raw in events if kind == REACTION_COUNT]
    counts: dict[tuple[str, str], int] = {}
    if totals:
        for item in totals[-1].get("reactions") or []:
            key = reaction_key(item.get("type")) if isinstance(item, dict) else None
            count = item.get("total_count") if isinstance(item, dict) else None
            if key and isinstance(count, int) and not isinstance(count, bool) and count > 0:
                counts[key] = counts.get(key, 0) + count
    else:
        latest: dict[tuple[str, int], list[Any]] = {}
        for kind, raw in events:
            who = reactor(raw) if kind == REACTION else None
            if who is not None and isinstance(raw.get("new_reaction"), list):
                latest[who] = raw["new_reaction"]
        for chosen in latest.values():
            for key in {k for k in map(reaction_key, chosen) if k is not None}:
                counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [
        {"paid": True, "count": n} if field == "paid" else {field: value, "count": n}
        for (field, value), n in ordered
    ]


def member_change(kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """A membership event as the API shows it: whose status changed, from what to what, and
    who changed it (users shaped as a message's sender)."""
    old, new = event.get("old_chat_member"), event.get("new_chat_member")
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    return {
        "kind": kind,
        "user": user_of(new.get("user") or old.get("user")),
        "old_status": _status(old),
        "new_status": _status(new),
        "by": user_of(event.get("from")),
    }


def _status(member: Mapping[str, Any]) -> str | None:
    status = member.get("status")
    return status if isinstance(status, str) else None


def user_of(user: object) -> dict[str, Any] | None:
    """A User as the API shows a message's sender."""
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        return None
    return {
        "id": user["id"],
        "is_bot": user.get("is_bot") is True,
        "first_name": user.get("first_name"),
        "last_name": user.get("last_name"),
        "username": user.get("username"),
        "is_chat": False,
    }


def bot_status_of(event: Mapping[str, Any]) -> str | None:
    """The bot's status after a my_chat_member event ("creator" reads as "administrator")."""
    member = event.get("new_chat_member")
    status = member.get("status") if isinstance(member, dict) else None
    if status == "creator":
        return "administrator"
    return status if isinstance(status, str) else None
