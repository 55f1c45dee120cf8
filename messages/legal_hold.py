"""Legal holds: a chat under hold loses nothing until the hold is released.

``do_set_legal_hold`` and ``do_release_legal_hold`` are the operator actions behind
``set_legal_hold`` and the admin's hold pages; each writes its audit entry, with the reason,
in the same transaction as the change, and ``audit.record_action`` counts it. While a chat is
held, ``purge_messages`` and retention skip it (and say so), ``shred_chat`` refuses, and media
deletions wait; ``rotate_chat_keys`` and ``reencrypt_messages`` still run (they destroy
nothing readable). The checks are ``messages.access.legal_hold``. Who may call these is the
caller's check: in the admin, ``archive.manage_legal_hold`` (superusers have it)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from messages import audit
from messages.models import LegalHold
from messages.outcome import Refused
from messages.stores import get_store

MAX_REASON = 2000


def do_set_legal_hold(
    chat_id: int, reason: str, *, request: HttpRequest | None = None
) -> LegalHold:
    """Holds the chat (or changes the reason of its hold, audited as a new hold). Refuses an
    empty reason and a chat not in the archive."""
    reason = reason.strip()
    if not reason:
        raise Refused("a legal hold needs a reason (--reason TEXT): nothing was changed")
    if len(reason) > MAX_REASON:
        raise Refused(f"the reason is {len(reason)} characters; keep it under {MAX_REASON}")
    if get_store().get_chat(chat_id) is None:
        raise Refused(f"no chat {chat_id} in the archive: nothing was held")
    with transaction.atomic():
        # The entry names who set it (the admin's user, or the OS user of a command): the
        # hold says the same.
        entry = audit.record_action(
            "set_legal_hold", request=request, chat_id=chat_id, filters={"reason": reason}
        )
        hold, _ = LegalHold.objects.update_or_create(
            chat_id=chat_id, defaults={"reason": reason, "by": entry.actor}
        )
    return hold


def do_release_legal_hold(chat_id: int, *, request: HttpRequest | None = None) -> LegalHold:
    """Releases the chat's hold; returns it as it was. Refuses a chat that is not held."""
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().filter(chat_id=chat_id).first()
        if hold is None:
            raise Refused(f"chat {chat_id} is not under legal hold: nothing was changed")
        audit.record_action(
            "release_legal_hold",
            request=request,
            chat_id=chat_id,
            filters={"reason": hold.reason, "since": hold.since.isoformat(), "by": hold.by},
        )
        hold.delete()
    return hold
