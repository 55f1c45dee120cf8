"""Run by
tests/messages/keys/test_a_shredded_chat_restarts_with_one_key_under_traffic.py, each action
in a process of its own, as a web server's worker processes and an operator's command are, on the
database, store and keyring its environment names. On Firestore the store's key lease is
shortened the same way in every process (the suite's FIRESTORE_LEASE), so a shred waits
seconds, not fifteen. SHRED_CHATS says how many chats (8 by default).

``setup``: migrates, creates the keyring, archives a few messages of each chat.
``write STOP_FILE THREADS FIRST_ID``: archives new messages of the chats from THREADS threads,
through the real ``messages.services.archive``, until STOP_FILE exists; refusals (the chat being
shredded: what the webhook answers 503 to) are counted and the message is tried again.
``shred``: ``do_shred_chat`` of each chat in turn, as ``shred_chat CHAT --yes`` runs it.
``verify``: ``do_verify_archive``, and each chat's key versions.
Each prints one JSON line, the last of stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from crypto.errors import CryptoError  # noqa: E402
from messages.keys.actions import do_shred_chat, do_verify_archive  # noqa: E402
from messages.services import archive  # noqa: E402
from messages.stores import get_store  # noqa: E402
from messages.stores.records import StoreError  # noqa: E402
from messages.telegram import IncomingMessage  # noqa: E402
from webhooks.updates import parse_update  # noqa: E402

# Each chat shredded is one more chance for the writers to race to start it afresh.
CHATS = [-1003000000000070 - n for n in range(int(os.environ.get("SHRED_CHATS", "8")))]
if "firestore" in settings.GROUPIE_STORE["BACKEND"]:
    settings.GROUPIE_STORE["OPTIONS"].update(key_lease=1.0, write_timeout=2.0)


def message(message_id: int) -> IncomingMessage:
    update = {
        "update_id": message_id,
        "message": {
            "message_id": message_id,
            "from": {"id": 6_000_000_001, "is_bot": False, "first_name": "A"},
            "chat": {"id": CHATS[message_id % len(CHATS)], "title": "Crew", "type": "supergroup"},
            "date": 1_780_000_000 + message_id % 1_000_000,
            "text": f"message {message_id}",
        },
    }
    parsed = parse_update(update)
    assert isinstance(parsed, IncomingMessage)
    return parsed


def setup() -> dict[str, Any]:
    call_command("migrate", verbosity=0)
    call_command("init_keyring", verbosity=0)
    outcomes = Counter(archive(message(n)).value for n in range(1, 33))
    return {"outcomes": outcomes}


def write(stop: Path, threads: int, first_id: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def writer(n: int) -> None:
        next_id = first_id + n * 100_000
        try:
            while not stop.exists():
                try:
                    outcome = archive(message(next_id)).value
                except (CryptoError, StoreError) as exc:
                    outcome = f"refused: {type(exc).__name__}"
                    time.sleep(0.005)
                else:
                    next_id += 1
                with lock:
                    outcomes[outcome] += 1
        finally:
            connections.close_all()

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"outcomes": outcomes}


def shred() -> dict[str, Any]:
    summaries = []
    for chat_id in CHATS:
        summaries.append(do_shred_chat(chat_id).summary())
        time.sleep(0.3)  # the writers start it afresh
    return {"summaries": summaries}


def verify() -> dict[str, Any]:
    report = do_verify_archive()
    keys = {c: [(k.version, k.state) for k in get_store().get_chat_keys(c)] for c in CHATS}
    return {"failures": report.failures, "summary": report.summary(), "keys": keys}


if __name__ == "__main__":
    action, *args = sys.argv[1:]
    if action == "setup":
        result = setup()
    elif action == "write":
        result = write(Path(args[0]), int(args[1]), int(args[2]))
    elif action == "shred":
        result = shred()
    elif action == "verify":
        result = verify()
    else:
        sys.exit(f"unknown action {action!r}")
    print(json.dumps(result))
