"""Run by tests/messages/keys/test_key_lifecycle_interrupted.py in its own process, on a
SQLite file database.

``populate CHATS PER_CHAT BIG``: migrates, creates the keyring and archives a few thousand
messages (every fourth one edited) across a few hundred chats through the real
``messages.services.archive``, plus the Telegram fixtures. ``digest [CHAT_ID ...]``: opens every
stored revision and title (of the chats given; default every chat) and prints a SHA-256 of each
plaintext, so a test can check that re-sealing kept every record's content. Each prints one JSON
line (the last line of stdout).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sys
from pathlib import Path
from typing import Any

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from crypto.envelope import message_identity, title_identity  # noqa: E402
from crypto.errors import CryptoError  # noqa: E402
from messages import sealing  # noqa: E402
from messages.services import archive  # noqa: E402
from messages.stores import get_store  # noqa: E402
from messages.telegram import IncomingMessage  # noqa: E402
from webhooks.updates import parse_update  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
FIRST_CHAT = -1002000000000000
WORDS = ("release", "checklist", "review", "merge", "deploy", "rollback", "ticket", "standup")


def chat_id(n: int) -> int:
    return FIRST_CHAT - n


def updates(chats: int, per_chat: int, big: int) -> list[dict[str, Any]]:
    """Chat 0 has ``big`` messages, the others ``per_chat``; every fourth message is edited."""
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    found: list[dict[str, Any]] = []
    update_id = 900_000_000
    for n in range(chats):
        chat = {"id": chat_id(n), "title": f"Crew {n}", "type": "supergroup"}
        for message_id in range(1, (big if n == 0 else per_chat) + 1):
            date = 1_780_000_000 + n * 10_000 + message_id * 7
            message = {
                "message_id": message_id,
                "from": {"id": 6_000_000_000 + message_id % 17, "is_bot": False, "first_name": "A"},
                "chat": chat,
                "date": date,
                "text": " ".join(rng.choices(WORDS, k=rng.randint(5, 40))),
            }
            update_id += 1
            found.append({"update_id": update_id, "message": message})
            if message_id % 4 == 0:
                update_id += 1
                edit = dict(message, edit_date=date + 60, text=f"{message['text']} (edited)")
                found.append({"update_id": update_id, "edited_message": edit})
    for path in sorted(FIXTURES.glob("*.json")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def populate(chats: int, per_chat: int, big: int) -> dict[str, Any]:
    call_command("migrate", verbosity=0)
    call_command("init_keyring", verbosity=0)
    outcomes: dict[str, int] = {}
    incoming = [parse_update(u) for u in updates(chats, per_chat, big)]
    archived = [m for m in incoming if isinstance(m, IncomingMessage)]
    # Inside a transaction the writes join it directly (no group commit, one fsync per chunk).
    for start in range(0, len(archived), 500):
        with transaction.atomic():
            for message in archived[start : start + 500]:
                outcome = archive(message).value
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"outcomes": outcomes, "big_chat": chat_id(0), "chats": chats}


def digest(chat_ids: list[int]) -> dict[str, str]:
    """chat/message/edit_date (or chat/title) -> SHA-256 of the opened plaintext, for the chats
    given (default: every chat)."""
    store = get_store()
    found: dict[str, str] = {}
    for chat in store.list_chats():
        if chat_ids and chat.chat_id not in chat_ids:
            continue
        revisions = store.iter_revisions(chat.chat_id)
        while batch := list(itertools.islice(revisions, 500)):
            items = [
                (message_identity(r.chat_id, r.message_id, r.edit_date), r.envelope) for r in batch
            ]
            for revision, opened in zip(batch, sealing.open_many(items), strict=True):
                name = f"{revision.chat_id}/{revision.message_id}/{revision.edit_date}"
                found[name] = _hash(opened)
        if chat.sealed_title is not None:
            opened = sealing.open_many([(title_identity(chat.chat_id), chat.sealed_title)])[0]
            found[f"{chat.chat_id}/title"] = _hash(opened)
    return found


def _hash(opened: bytes | CryptoError) -> str:
    if isinstance(opened, CryptoError):
        return f"failed: {type(opened).__name__}"
    return hashlib.sha256(opened).hexdigest()


if __name__ == "__main__":
    if sys.argv[1] == "populate":
        chats, per_chat, big = map(int, sys.argv[2:5])
        print(json.dumps(populate(chats, per_chat, big)))
    elif sys.argv[1] == "digest":
        print(json.dumps(digest([int(c) for c in sys.argv[2:]])))
    else:
        sys.exit(f"unknown action {sys.argv[1]!r}")
