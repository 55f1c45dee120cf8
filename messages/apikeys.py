"""API keys: made once, shown once, stored as a SHA-256 hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from messages.models import ApiKey

KEY_PREFIX = "gpk_"
# last_used_at is a hint for operators; writing it on every request would cost a write each.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(name: str, chat_ids: Iterable[int] = ()) -> tuple[ApiKey, str]:
    """Creates a key limited to ``chat_ids`` (all chats if empty); returns it and the secret
    string, which is not stored and cannot be shown again."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}.{secrets.token_urlsafe(32)}"
    record = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=_digest(key),
        chat_ids=sorted(set(chat_ids)),
    )
    return record, key


def audit_fields(record: ApiKey) -> dict[str, Any]:
    """What the audit log keeps of a key made or revoked: its name, prefix and chats."""
    return {"key": f"{record.name} ({record.prefix})", "chats": record.chat_ids or "every chat"}


def verify_api_key(key: str) -> ApiKey | None:
    """The active key ``key`` names, or None for an unknown, wrong or revoked key."""
    if not key.startswith(KEY_PREFIX) or "." not in key:
        return None
    prefix = key[len(KEY_PREFIX) :].split(".", 1)[0]
    record = ApiKey.objects.filter(prefix=prefix).first()
    # compare_digest on the hashes: the time taken says nothing about how much matched.
    expected = record.key_hash if record else _digest("no such key")
    if not hmac.compare_digest(_digest(key), expected) or record is None:
        return None
    if not record.is_active:
        return None
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def revoke_api_key(record: ApiKey) -> None:
    if record.revoked_at is None:
        record.revoked_at = timezone.now()
        record.save(update_fields=["revoked_at"])
