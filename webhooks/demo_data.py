"""Deterministic demo data: a multi-chat Telegram conversation as Bot API ``Update`` dicts.

``demo_updates()`` returns a list of Update objects shaped exactly as Telegram delivers them to a
webhook (https://core.telegram.org/bots/api#update), in delivery order. It covers:

* a team supergroup planning a release (replies, two edits, photo, document, voice, sticker, poll),
* a forum supergroup with two topics,
* a channel with three posts (one edited),
* a private chat with the bot,
* an international chat with Russian/Japanese text and emoji,
* a media group of two photos.

Everything is deterministic: dates start at 2026-11-02 09:00:00 UTC and update ids are
consecutive, so the same list is produced on every call. The module has no Django dependency.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from pathlib import Path
from typing import Any

__all__ = ["FIRST_UPDATE_ID", "START_TIMESTAMP", "demo_files", "demo_updates"]

JSONDict = dict[str, Any]

START_TIMESTAMP = 1_793_610_000  # 2026-11-02T09:00:00Z
FIRST_UPDATE_ID = 734_100_001


# --------------------------------------------------------------------------- primitives


def _user(user_id: int, first: str, last: str, username: str, lang: str = "en") -> JSONDict:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first,
        "last_name": last,
        "username": username,
        "language_code": lang,
    }


def _supergroup(chat_id: int, title: str, *, is_forum: bool = False) -> JSONDict:
    chat: JSONDict = {"id": chat_id, "title": title}
    if is_forum:
        chat["is_forum"] = True
    chat["type"] = "supergroup"
    return chat


def _channel(chat_id: int, title: str, username: str) -> JSONDict:
    return {"id": chat_id, "title": title, "username": username, "type": "channel"}


def _private(user: JSONDict) -> JSONDict:
    keys = ("id", "first_name", "last_name", "username")
    chat = {key: user[key] for key in keys if key in user}
    chat["type"] = "private"
    return chat


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str, *spans: tuple[str, str]) -> list[JSONDict]:
    """Build MessageEntity dicts for ``(substring, type)`` pairs; offsets are UTF-16 units."""
    result = []
    for needle, kind in spans:
        index = text.index(needle)
        result.append(
            {"offset": _utf16_len(text[:index]), "length": _utf16_len(needle), "type": kind}
        )
    return result


def _token(seed: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest() * 2
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


# The demo's real files (webhooks/demo_media/), served by the loopback Bot API server when
# load_demo runs: file_id -> file. Their sizes are the files' own.
DEMO_MEDIA = Path(__file__).resolve().parent / "demo_media"
_DEMO_FILES: dict[str, Path] = {}


def _file(prefix: str, seed: str, size: int, media: str | None = None) -> JSONDict:
    file_id = prefix + _token(seed, 56)
    if media is not None:
        _DEMO_FILES[file_id] = DEMO_MEDIA / media
        size = _DEMO_FILES[file_id].stat().st_size
    return {
        "file_id": file_id,
        "file_unique_id": "AgAD" + _token(seed + ":u", 12),
        "file_size": size,
    }


def demo_files() -> dict[str, Path]:
    """The file behind each demo file_id that has one (photos' largest size, the document,
    the voice note, the sticker)."""
    demo_updates()
    return dict(_DEMO_FILES)


def _thumbnail(seed: str, width: int, height: int) -> JSONDict:
    thumb = _file("AAMCBAADGQEAAgI", seed + ":thumb", width * height // 12)
    thumb.update(width=width, height=height)
    return thumb


def _photo(seed: str, width: int, height: int, media: str | None = None) -> list[JSONDict]:
    """PhotoSize array, smallest first, as Telegram sends it; ``media`` is the largest's file."""
    sizes = []
    for step, longest in enumerate((90, 320, 800, 1280)):
        scale = longest / max(width, height)
        w, h = round(width * scale), round(height * scale)
        size = _file(
            "AgACAgQAAxkBAAIC", f"{seed}:{step}", w * h // 9 + 600, media if step == 3 else None
        )
        size["file_unique_id"] = "AQAD" + _token(seed, 8) + "AAN" + "xymw"[step]
        size.update(width=w, height=h)
        sizes.append(size)
    return sizes


def _poll(poll_id: str, question: str, *options: str) -> JSONDict:
    return {
        "id": poll_id,
        "question": question,
        "options": [{"text": option, "voter_count": 0} for option in options],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": False,
        "type": "regular",
        "allows_multiple_answers": False,
    }


def _sticker(seed: str, emoji: str, set_name: str, media: str | None = None) -> JSONDict:
    return {
        "width": 512,
        "height": 512,
        "emoji": emoji,
        "set_name": set_name,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
        "thumbnail": _thumbnail(seed, 128, 128),
        **_file("CAACAgIAAxkBAAIC", seed, 30_218, media),
    }


# --------------------------------------------------------------------------- builder


class _Timeline:
    """Allocates update ids, message ids per chat and a monotonic clock."""

    def __init__(self) -> None:
        self.updates: list[JSONDict] = []
        self.now = START_TIMESTAMP
        self._next_update_id = FIRST_UPDATE_ID
        self._next_message_id: dict[int, int] = {}

    def _emit(self, kind: str, payload: JSONDict) -> None:
        self.updates.append({"update_id": self._next_update_id, kind: copy.deepcopy(payload)})
        self._next_update_id += 1

    def start_chat(self, chat: JSONDict, first_message_id: int) -> None:
        self._next_message_id[chat["id"]] = first_message_id

    def message(
        self,
        chat: JSONDict,
        sender: JSONDict | None,
        after: int = 60,
        *,
        reply_to: JSONDict | None = None,
        **fields: Any,
    ) -> JSONDict:
        """Emit a new message ``after`` seconds after the previous event and return it."""
        self.now += after
        message_id = self._next_message_id[chat["id"]]
        self._next_message_id[chat["id"]] = message_id + 1
        message: JSONDict = {"message_id": message_id}
        if sender is not None:
            message["from"] = sender
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        message["chat"] = chat
        message["date"] = self.now
        if reply_to is not None:
            parent = copy.deepcopy(reply_to)
            parent.pop("reply_to_message", None)
            message["reply_to_message"] = parent
        message.update(fields)
        self._emit("channel_post" if chat["type"] == "channel" else "message", message)
        return message

    def text(
        self,
        chat: JSONDict,
        sender: JSONDict | None,
        text: str,
        after: int = 60,
        *,
        spans: tuple[tuple[str, str], ...] = (),
        **fields: Any,
    ) -> JSONDict:
        if spans:
            fields["entities"] = _entities(text, *spans)
        return self.message(chat, sender, after, text=text, **fields)

    def edit(
        self,
        message: JSONDict,
        new_text: str,
        after: int = 120,
        *,
        spans: tuple[tuple[str, str], ...] = (),
    ) -> JSONDict:
        """Emit an ``edited_message`` / ``edited_channel_post`` for ``message``."""
        self.now += after
        edited = copy.deepcopy(message)
        edited["edit_date"] = self.now
        edited["text"] = new_text
        edited.pop("entities", None)
        if spans:
            edited["entities"] = _entities(new_text, *spans)
        kind = "edited_channel_post" if message["chat"]["type"] == "channel" else "edited_message"
        self._emit(kind, edited)
        return edited

    def topic(self, chat: JSONDict, creator: JSONDict, name: str, color: int) -> JSONDict:
        """Emit a ``forum_topic_created`` service message; its id is the thread id."""
        message_id = self._next_message_id[chat["id"]]
        return self.message(
            chat,
            creator,
            message_thread_id=message_id,
            forum_topic_created={"name": name, "icon_color": color},
            is_topic_message=True,
        )

    def in_topic(self, topic: JSONDict, sender: JSONDict, text: str, after: int = 60) -> JSONDict:
        return self.text(
            topic["chat"],
            sender,
            text,
            after,
            message_thread_id=topic["message_thread_id"],
            reply_to=topic,
            is_topic_message=True,
        )


# --------------------------------------------------------------------------- cast

MARGUERITE = _user(7123456789, "Marguerite", "Quillfeather", "mquillfeather_zz")
OSKAR = _user(5298317764, "Oskar", "Lindqvist", "oskar_lq", "sv")
PRIYA = _user(6630027415, "Priya", "Raman", "priya_builds")
TOMASZ = _user(8012345671, "Tomasz", "Wiśniewski", "tomasz_w", "pl")
YUKI = _user(7488120036, "由紀", "山本", "yuki_yamamoto_dev", "ja")
DMITRY = _user(5874102296, "Дмитрий", "Соколов", "dsokolov", "ru")

TEAM = _supergroup(-1001234567890123, "Quillfeather Release Crew")
FORUM = _supergroup(-1003141592653589, "Groupie Engineering", is_forum=True)
CHANNEL = _channel(-1002718281828459, "Groupie Announcements", "groupie_news")
INTL = _supergroup(-1002087654321098, "Международная команда 🌍")


# --------------------------------------------------------------------------- scenes


def _team_chat(t: _Timeline) -> None:
    t.start_chat(TEAM, 5201)
    kickoff = t.text(
        TEAM,
        MARGUERITE,
        "Morning all! Let's lock the plan for the 2.4 release today.",
        0,
        spans=(("2.4 release", "bold"),),
    )
    t.text(TEAM, OSKAR, "Morning! Coffee first, then planning ☕", 45)
    t.text(TEAM, PRIYA, "I'm here. CI has been green since Friday.", 80, reply_to=kickoff)
    t.text(TEAM, TOMASZ, "Present. I still owe the migration notes.", 40)
    scope = t.text(
        TEAM,
        MARGUERITE,
        "Scope: search speedup, export to PDF, and the webhook retry fix. @tomasz_w owns docs.",
        120,
        spans=(("@tomasz_w", "mention"),),
    )
    t.edit(
        scope,
        "Scope: search speedup, export to PDF, webhook retry fix and the new importer. "
        "@tomasz_w owns docs.",
        150,
        spans=(("@tomasz_w", "mention"),),
    )
    t.text(TEAM, OSKAR, "The importer is risky, can we flag it?", 50, reply_to=scope)
    t.text(TEAM, MARGUERITE, "Yes — behind a feature flag, off by default.", 35)
    caption = "Whiteboard from this morning"
    t.message(
        TEAM,
        PRIYA,
        300,
        photo=_photo("team:whiteboard", 4032, 3024, "whiteboard.jpg"),
        caption=caption,
        caption_entities=_entities(caption, ("Whiteboard", "bold")),
    )
    t.text(TEAM, TOMASZ, "Nice, I'll transcribe that into the wiki.", 60)
    t.message(
        TEAM,
        TOMASZ,
        900,
        document={
            "file_name": "migration-notes-2.4.pdf",
            "mime_type": "application/pdf",
            "thumbnail": _thumbnail("team:notes", 226, 320),
            **_file("BQACAgQAAxkBAAIC", "team:notes", 284_913, "migration-notes-2.4.pdf"),
        },
        caption="Draft migration notes",
    )
    t.message(
        TEAM,
        OSKAR,
        240,
        voice={
            "duration": 3,
            "mime_type": "audio/ogg",
            **_file("AwACAgQAAxkBAAIC", "v1", 91_402, "voice.ogg"),
        },
    )
    t.text(TEAM, PRIYA, "Summary of Oskar's voice note: staging DB needs a resize first.", 70)
    date_question = t.text(TEAM, MARGUERITE, "When do we ship? Let's vote.", 200)
    t.message(
        TEAM,
        MARGUERITE,
        10,
        poll=_poll(
            "5289634017823150001", "Ship date for 2.4?", "Wednesday", "Thursday", "Friday 😬"
        ),
    )
    t.text(TEAM, OSKAR, "Never Friday.", 30, reply_to=date_question)
    t.text(TEAM, TOMASZ, "Thursday works for docs.", 40)
    t.text(TEAM, PRIYA, "Thursday, if staging is resized by Wednesday noon.", 55)
    freeze = t.text(TEAM, MARGUERITE, "Thursday it is. Code freeze Wednesday 18:00 UTC.", 600)
    t.edit(freeze, "Thursday it is. Code freeze Wednesday 17:00 UTC (moved up an hour).", 240)
    t.message(
        TEAM,
        OSKAR,
        20,
        sticker=_sticker("team:sticker", "🎉", "HotCherry", "sticker.webp"),
    )
    t.text(TEAM, PRIYA, "Resizing staging now.", 400)
    t.text(TEAM, PRIYA, "Done. Staging has twice the disk.", 1800)
    pr_url = "https://example.com/pr/812"
    t.text(TEAM, TOMASZ, f"Docs PR is up: {pr_url}", 900, spans=((pr_url, "url"),))
    t.text(TEAM, MARGUERITE, "Great work everyone. Release checklist pinned tomorrow.", 300)


def _media_group(t: _Timeline) -> None:
    group_id = "13912587446019384"
    caption = "Release party setup 🎈"
    photo = _photo("party:1", 3000, 4000, "party-1.jpg")
    t.message(TEAM, PRIYA, 3600, media_group_id=group_id, photo=photo, caption=caption)
    t.message(
        TEAM, PRIYA, 0, media_group_id=group_id, photo=_photo("party:2", 4000, 3000, "party-2.jpg")
    )


def _forum(t: _Timeline) -> None:
    t.start_chat(FORUM, 301)
    blockers = t.topic(FORUM, PRIYA, "Release 2.4 blockers", 7322096)
    infra = t.topic(FORUM, OSKAR, "Infra", 16766590)
    t.in_topic(blockers, YUKI, "Webhook retries still double-post on timeout.", 120)
    t.in_topic(infra, OSKAR, "Staging DB resize scheduled for 14:00 UTC.", 45)
    t.in_topic(blockers, PRIYA, "Fix is in review, should land today.", 300)
    t.in_topic(infra, MARGUERITE, "Thanks — please post in the team chat when done.", 90)


def _channel_posts(t: _Timeline) -> None:
    t.start_chat(CHANNEL, 57)
    first = t.text(
        CHANNEL,
        None,
        "Groupie 2.4 ships this Thursday! Archive search is now 3x faster.",
        1200,
        spans=(("Groupie 2.4", "bold"),),
        author_signature="Marguerite Quillfeather",
    )
    t.edit(
        first,
        "Groupie 2.4 ships this Thursday! Archive search is now 3x faster. "
        "Full changelog coming soon.",
        300,
        spans=(("Groupie 2.4", "bold"),),
    )
    t.text(CHANNEL, None, "Heads-up: brief maintenance window Wednesday 17:00 UTC.", 3600)
    t.text(CHANNEL, None, "PDF export is here 📄", 3600, author_signature="Tomasz Wiśniewski")


def _private_chat(t: _Timeline) -> None:
    chat = _private(MARGUERITE)
    t.start_chat(chat, 12)
    t.text(chat, MARGUERITE, "/start", 600, spans=(("/start", "bot_command"),))
    export = "/export Quillfeather Release Crew"
    t.text(chat, MARGUERITE, export, 40, spans=(("/export", "bot_command"),))


def _international(t: _Timeline) -> None:
    t.start_chat(INTL, 880)
    t.text(INTL, DMITRY, "Всем привет! 👋 Релиз 2.4 в четверг 🚀", 500)
    t.text(INTL, YUKI, "了解です。木曜日のリリース、楽しみ 🎉", 90)
    hello = t.text(INTL, DMITRY, "Юки, переведёшь заметки к релизу на японский? 🙏", 60)
    t.text(INTL, YUKI, "はい、もちろん。明日までに 📝", 120, reply_to=hello)
    t.text(INTL, MARGUERITE, "Спасибо! ありがとう! ❤️", 45)


def demo_updates() -> list[dict[str, Any]]:
    """Return the demo conversation as a fresh list of Telegram Update dicts in delivery order."""
    timeline = _Timeline()
    _team_chat(timeline)
    _forum(timeline)
    _media_group(timeline)
    _channel_posts(timeline)
    _private_chat(timeline)
    _international(timeline)
    return timeline.updates
