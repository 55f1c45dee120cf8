"""The vocabulary Telegram Desktop's JSON export shares with the Bot API, in both directions:
``read`` maps the export's names to the Bot API's, ``write`` the Bot API's back to the
export's. One table per mapping; each inverse is derived from it, never written twice."""

from __future__ import annotations

# The export's chat types, and the Bot API's.
CHAT_TYPES = {
    "private_supergroup": "supergroup",
    "public_supergroup": "supergroup",
    "private_channel": "channel",
    "public_channel": "channel",
    "private_group": "group",
    "personal_chat": "private",
    "bot_chat": "private",
    "saved_messages": "private",
}
# Export media_type → the Bot API's message field for that file.
MEDIA_FIELDS = {
    "voice_message": "voice",
    "video_message": "video_note",
    "video_file": "video",
    "audio_file": "audio",
    "animation": "animation",
    "sticker": "sticker",
}
# Export text_entities types the Bot API names otherwise.
ENTITY_TYPES = {"link": "url", "mention_name": "text_mention"}

# Writing: the Bot API's chat types as the export names them (the export's private/public
# distinction is not in a Bot API chat: "private" is written).
EXPORT_CHAT_TYPES = {
    "supergroup": "private_supergroup",
    "channel": "private_channel",
    "group": "private_group",
    "private": "personal_chat",
}
EXPORT_MEDIA_TYPES = {field: media_type for media_type, field in MEDIA_FIELDS.items()}
EXPORT_ENTITY_TYPES = {bot: export for export, bot in ENTITY_TYPES.items()}
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"


def export_chat_id(chat_id: int, chat_type: str) -> int:
    """The export's id for a Bot API chat id (the inverse of bot_api_chat_id)."""
    if chat_type in ("supergroup", "channel") and str(chat_id).startswith("-100"):
        return int(str(chat_id)[4:])
    return abs(chat_id)
