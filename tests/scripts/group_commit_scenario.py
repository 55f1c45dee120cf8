"""Run by tests/messages/stores/test_sqlite_group_commit.py in its own process, on a SQLite
file database.

Prints one JSON line with what it observed; the test asserts on it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from crypto.chatkeys import SUPERSEDED, ChatKeys  # noqa: E402
from messages.sealing import get_keyring  # noqa: E402
from messages.services import archive  # noqa: E402
from messages.stores import get_store, sqlite_writer  # noqa: E402
from messages.stores.records import StoreError  # noqa: E402
from tests.factories import UpdateFactory, edited  # noqa: E402
from webhooks.updates import parse_update  # noqa: E402

call_command("migrate", verbosity=0)
call_command("init_keyring", verbosity=0)

originals = [UpdateFactory(message__chat__id=-1001000000000000 - n % 5) for n in range(60)]
edits = [edited(u, edit_date=u["message"]["date"] + 60, text="edited") for u in originals[::3]]
deliveries = (originals + edits) * 3  # every update delivered three times, as retries would
outcomes: Counter[str] = Counter()
lock = threading.Lock()
batch_sizes: list[int] = []
original_commit = sqlite_writer.GroupCommitter._commit


def counting_commit(self, batch):  # type: ignore[no-untyped-def]
    batch_sizes.append(len(batch))
    return original_commit(self, batch)


sqlite_writer.GroupCommitter._commit = counting_commit  # type: ignore[method-assign]


def deliver(updates: list[dict]) -> None:
    for update in updates:
        outcome = archive(parse_update(update))  # type: ignore[arg-type]
        with lock:
            outcomes[outcome.value] += 1
    connection.close()


threads = [threading.Thread(target=deliver, args=(deliveries[i::12],)) for i in range(12)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()


def failing(cursor):  # type: ignore[no-untyped-def]
    cursor.execute("INSERT INTO no_such_table VALUES (1)")


errors: list[str] = []


def submit_failing() -> None:
    try:
        sqlite_writer.committer.submit(failing)
    except StoreError as exc:
        errors.append(type(exc).__name__)


bad = threading.Thread(target=submit_failing)
good = [threading.Thread(target=deliver, args=([u],)) for u in [UpdateFactory() for _ in range(5)]]
for thread in [bad, *good]:
    thread.start()
for thread in [bad, *good]:
    thread.join()

# A caller's own transaction already holds SQLite's write lock: the write joins it directly.
with transaction.atomic():
    inside_atomic = archive(parse_update(UpdateFactory())).value  # type: ignore[arg-type]

# Another process rotates one chat's key while this one still has the old version cached:
# the writes for that chat are refused in the group commit, sealed again under the new key,
# and the other chats' writes in the same batches are not disturbed.
rotated = -1001000000000000
rotator = ChatKeys(get_store(), get_keyring())
current = get_store().get_chat_keys(rotated)
new_key, _ = rotator.new_record(rotated, 2)
assert get_store().change_chat_keys(
    rotated, current, [replace(current[0], state=SUPERSEDED), new_key]
)
after_rotation: Counter[str] = Counter()


def deliver_after_rotation(updates: list[dict]) -> None:
    for update in updates:
        try:
            after_rotation[archive(parse_update(update)).value] += 1  # type: ignore[arg-type]
        except StoreError as exc:
            after_rotation[type(exc).__name__] += 1
    connection.close()


late = [UpdateFactory(message__chat__id=-1001000000000000 - n % 5) for n in range(40)]
threads = [threading.Thread(target=deliver_after_rotation, args=(late[i::8],)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
late_versions = sorted(
    {
        r.key_version
        for r in get_store().iter_revisions(rotated)
        if r.message_id in {u["message"]["message_id"] for u in late}
    }
)

with connection.cursor() as cursor:
    cursor.execute("SELECT COUNT(*), SUM(version_count) FROM archive_message")
    messages, versions = cursor.fetchone()
    # Each version once: the heads' and the superseded ones' (revision rows).
    cursor.execute("SELECT COUNT(*) FROM archive_messagerevision")
    (superseded,) = cursor.fetchone()
    revisions = messages + superseded
    (counted,) = [sum(c.message_count for c in get_store().list_chats())]
print(
    json.dumps(
        {
            "outcomes": outcomes,
            "messages": messages,
            "versions": versions,
            "revisions": revisions,
            "chat_message_count": counted,
            "largest_batch": max(batch_sizes),
            "errors": errors,
            "inside_atomic": inside_atomic,
            "after_rotation": after_rotation,
            "late_key_versions": late_versions,
            "originals": len(originals),
            "edits": len(edits),
        }
    )
)
