"""Telegram Desktop's JSON export format ("Export chat history" → Machine-readable JSON), both
directions in one place: ``read`` turns an export into Bot API messages (import_telegram_export),
``write`` turns archived messages into one (export_messages, the API's ``format=telegram``),
and ``mappings`` holds the vocabulary they share, so a change to one direction is made beside
the other."""
