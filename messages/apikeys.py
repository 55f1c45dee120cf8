"""API keys: made once, shown once, stored as a SHA-256 hash, checked in constant time.

Making, revoking and deleting a key are operator actions (``do_create_api_key``,
``do_revoke_api_keys``, ``do_delete_api_keys``): the command and the admin call the same
functions, which write the same audit entry (who, which key by name and prefix, which chats;
never the key) in the same transaction as the change. Who may call them is the caller's check:
in the admin, the decrypt permission on top of the model's."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from messages import audit
from messages.models import ApiKey
from messages.outcome import Refused

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


def do_create_api_key(
    name: str,
    chat_ids: Iterable[int] = (),
    *,
    allow_duplicate_name: bool = False,
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """Makes a key (``create_api_key``) and audits it; ``request`` is the admin's (None for a
    command). Refuses (Refused) a name a live key has unless ``allow_duplicate_name``."""
    with transaction.atomic():
        taken = ApiKey.objects.filter(name=name, revoked_at__isnull=True)
        if not allow_duplicate_name and taken.exists():
            raise Refused(
                f"a live API key is already named {name!r} "
                f"({', '.join(taken.values_list('prefix', flat=True))}). Revoke it in the admin, "
                "pick another name, or pass --allow-duplicate-name."
            )
        record, key = create_api_key(name, chat_ids)
        audit.record_action("api-key-create", request=request, filters=audit_fields(record))
    return record, key


def do_revoke_api_keys(keys: Iterable[ApiKey], *, request: HttpRequest | None = None) -> int:
    """Revokes the live keys among ``keys``, each audited; returns how many."""
    with transaction.atomic():
        live = [k for k in keys if k.revoked_at is None]
        ApiKey.objects.filter(pk__in=[k.pk for k in live]).update(revoked_at=timezone.now())
        for key in live:
            audit.record_action("api-key-revoke", request=request, filters=audit_fields(key))
    return len(live)


def do_delete_api_keys(keys: Iterable[ApiKey], *, request: HttpRequest | None = None) -> None:
    """Deletes ``keys``, each audited (the entry keeps its name, prefix and chats)."""
    with transaction.atomic():
        for key in keys:
            audit.record_action("api-key-delete", request=request, filters=audit_fields(key))
            key.delete()


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
