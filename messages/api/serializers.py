"""Input validation for the API, and the response shapes the OpenAPI schema documents.

Responses are built as plain dicts by ``messages.reading.as_api`` (one pass, no per-field
serializer overhead on pages of hundreds); the serializers below describe them for the schema,
and the schemathesis run checks that the two agree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from crypto.blindindex import BadSearch, Search
from messages.telegram import KINDS

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MESSAGE_ID = re.compile(r"^(-?\d{1,19}):(\d{1,19})$")
MESSAGE_ID_PATTERN = r"^-?\d{1,19}:\d{1,19}$"  # what the schema states of a message id
# A signed cursor (django.core.signing): URL-safe base64 parts joined by colons.
CURSOR_PATTERN = r"^[A-Za-z0-9_:-]+$"
CURSOR_MAX_LENGTH = 512


@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "minimum": 0}]}
)
class TelegramDateField(serializers.Field):
    """ISO 8601 (naive means UTC) or unix seconds, as Telegram dates: whole seconds."""

    default_error_messages = {"invalid": "Use ISO 8601 (2026-11-02T09:00:00Z) or unix seconds."}

    def to_internal_value(self, data: Any) -> int:
        value = str(data).strip()
        if re.fullmatch(r"\d{1,12}", value):
            return int(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail("invalid")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment.year < 1970:
            self.fail("invalid")
        return int(moment.timestamp())

    def to_representation(self, value: Any) -> Any:
        return value


def parse_message_id(value: str) -> tuple[int, int]:
    """``"chat_id:message_id"`` as a pair; raises ValueError."""
    match = MESSAGE_ID.match(value)
    if not match:
        raise ValueError("a message id is chat_id:message_id")
    chat_id, message_id = int(match[1]), int(match[2])
    if not (INT64_MIN <= chat_id <= INT64_MAX and 0 < message_id <= INT64_MAX):
        raise ValueError("id out of range")
    return chat_id, message_id


_KINDS = ", ".join(KINDS)


class MessageFilterSerializer(serializers.Serializer):
    chat = serializers.ListField(
        child=serializers.IntegerField(min_value=INT64_MIN, max_value=INT64_MAX),
        required=False,
        max_length=100,
        help_text="Chat id; repeat for several chats.",
    )
    user = serializers.IntegerField(
        required=False, min_value=INT64_MIN, max_value=INT64_MAX, help_text="Sender id."
    )
    thread = serializers.IntegerField(
        required=False, min_value=INT64_MIN, max_value=INT64_MAX, help_text="Forum topic id."
    )
    since = TelegramDateField(required=False, help_text="Telegram date ≥ this (inclusive).")
    until = TelegramDateField(required=False, help_text="Telegram date ≤ this (inclusive).")
    kind = serializers.ChoiceField(
        choices=KINDS,
        required=False,
        help_text=f"What the message is: {_KINDS}.",
        # DRF's own message names no choice: the caller should not need the docs to fix it.
        error_messages={"invalid_choice": f'"{{input}}" is not a kind; use one of {_KINDS}.'},
    )
    edited = serializers.BooleanField(required=False, help_text="Only edited, or only unedited.")
    ordering = serializers.ChoiceField(choices=["date", "-date"], default="-date")
    search = serializers.CharField(
        required=False,
        max_length=200,
        trim_whitespace=True,
        help_text='Words that must all be in the text or caption; a "quoted phrase" must be '
        "there as written. Only in chats whose search index is built (build_search_index): "
        "naming another chat is a 400.",
    )

    def validate_search(self, value: str) -> Search:
        try:
            return Search.parse(value)
        except BadSearch as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since > until:
            raise serializers.ValidationError({"until": "until is before since."})
        return attrs


class PageSerializer(serializers.Serializer):
    page_size = serializers.IntegerField(
        min_value=1,
        default=DEFAULT_PAGE_SIZE,
        help_text=f"Items per page, at most {MAX_PAGE_SIZE} (larger values are clamped).",
    )
    cursor = serializers.RegexField(
        CURSOR_PATTERN,
        max_length=CURSOR_MAX_LENGTH,
        required=False,
        help_text="Opaque, from a previous page's links; one the server did not sign is a 400.",
    )

    def validate_page_size(self, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)


class BatchRequestSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.CharField(max_length=41),
        min_length=1,
        max_length=500,
        help_text='Message ids, "chat_id:message_id", at most 500.',
    )

    def validate_ids(self, value: list[str]) -> list[tuple[int, int]]:
        pairs: list[tuple[int, int]] = []
        errors: dict[str, list[str]] = {}
        for index, item in enumerate(value):
            try:
                pairs.append(parse_message_id(item))
            except ValueError as exc:
                errors[str(index)] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return pairs


# -- response shapes (documentation; the data comes from messages.reading.as_api) ------------------


class ErrorSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="DecryptionError, ChatKeyDestroyed, …")
    detail = serializers.CharField()


class SenderSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    is_bot = serializers.BooleanField()
    is_chat = serializers.BooleanField(help_text="Sent on behalf of a chat (channel, anonymous).")
    first_name = serializers.CharField(allow_null=True)
    last_name = serializers.CharField(allow_null=True)
    username = serializers.CharField(allow_null=True)


class MediaSerializer(serializers.Serializer):
    type = serializers.CharField()
    file_ids = serializers.ListField(child=serializers.CharField(allow_null=True))
    file_unique_id = serializers.CharField(allow_null=True)
    file_name = serializers.CharField(allow_null=True)
    mime_type = serializers.CharField(allow_null=True)
    file_size = serializers.IntegerField(allow_null=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    duration = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["pending", "stored", "failed", "too_large", "not_kept"],
        help_text="Where the archive's copy of the file stands: pending (being fetched), "
        "stored, failed, too_large (over the Bot API's limit), not_kept (media fetching was "
        "off). A stored file that fails to open answers 409 at its url.",
    )
    url = serializers.URLField(
        allow_null=True, help_text="Where the stored file is served, decrypted; null until stored."
    )


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField(required=False, help_text="A standard emoji reaction.")
    custom_emoji_id = serializers.CharField(required=False, help_text="A custom emoji's id.")
    paid = serializers.BooleanField(required=False, help_text="Telegram Stars reactions.")
    count = serializers.IntegerField()


class MessageSerializer(serializers.Serializer):
    id = serializers.CharField(help_text='"chat_id:message_id"')
    chat_id = serializers.IntegerField()
    message_id = serializers.IntegerField()
    thread_id = serializers.IntegerField(allow_null=True)
    sender = SenderSerializer(allow_null=True)
    date = serializers.DateTimeField()
    edit_date = serializers.DateTimeField(allow_null=True)
    kind = serializers.CharField()
    text = serializers.CharField(allow_null=True)
    entities = serializers.ListField(child=serializers.DictField())
    media = MediaSerializer(allow_null=True)
    reply_to_message_id = serializers.IntegerField(allow_null=True)
    media_group_id = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    versions_count = serializers.IntegerField()
    imported_from = serializers.CharField(
        allow_null=True,
        help_text="Where a backfilled message came from (e.g. telegram-desktop-export); "
        "null for messages the bot received.",
    )
    reactions = ReactionSerializer(
        many=True,
        help_text="Reactions, most counted first: Telegram's latest totals where it sent them "
        "(anonymous reactions included), else counted from each person's latest reaction. "
        "Telegram reports reactions only to a bot that is an administrator.",
    )
    error = ErrorSerializer(allow_null=True, help_text="Set when the record failed to open.")


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    edit_date = serializers.DateTimeField(allow_null=True)
    text = serializers.CharField(allow_null=True)
    error = ErrorSerializer(allow_null=True)


class MessageDetailSerializer(MessageSerializer):
    versions = VersionSerializer(many=True)
    raw = serializers.DictField(allow_null=True, help_text="The whole Telegram message object.")


@extend_schema_serializer(many=False)  # a page object, though it answers a list action
class MessagePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MessageSerializer(many=True)


class BatchResponseSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    not_found = serializers.ListField(child=serializers.CharField())


class LegalHoldSerializer(serializers.Serializer):
    reason = serializers.CharField()
    since = serializers.DateTimeField()
    by = serializers.CharField()


class ChatSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    message_count = serializers.IntegerField()
    first_date = serializers.DateTimeField()
    last_date = serializers.DateTimeField()
    migrated_to_chat_id = serializers.IntegerField(allow_null=True)
    migrated_from_chat_id = serializers.IntegerField(allow_null=True)
    bot_status = serializers.ChoiceField(
        choices=["member", "administrator", "restricted", "left", "kicked"],
        allow_null=True,
        help_text="The bot's membership as Telegram last reported it (my_chat_member); null "
        "when no such report was archived.",
    )
    legal_hold = LegalHoldSerializer(
        allow_null=True,
        help_text="The chat's legal hold (nothing of it is deleted until released); null "
        "when it is not held.",
    )
    error = ErrorSerializer(allow_null=True)


@extend_schema_serializer(many=False)  # a page object, though it answers a list action
class ChatPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ChatSerializer(many=True)


class EventFilterSerializer(PageSerializer):
    ordering = serializers.ChoiceField(choices=["date", "-date"], default="-date")


class EventSerializer(serializers.Serializer):
    date = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["chat_member", "my_chat_member"])
    user = SenderSerializer(allow_null=True, help_text="Whose membership changed.")
    old_status = serializers.CharField(allow_null=True)
    new_status = serializers.CharField(
        allow_null=True,
        help_text="creator, administrator, member, restricted, left or kicked (banned).",
    )
    by = SenderSerializer(allow_null=True, help_text="Who made the change.")
    error = serializers.CharField(allow_null=True, help_text="Set when the event failed to open.")


@extend_schema_serializer(many=False)
class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EventSerializer(many=True)
