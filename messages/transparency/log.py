"""The log itself, in Django's database: leaves at their indices, the complete subtrees'
hashes, and the sequencer that moves the store's pending leaves into it.

Sequencing runs off the webhook's path (the checkpoint command and the publishing task). It
takes the oldest pending leaves in (created, key) order, gives them the next indices, and
stores them with the subtree hashes they complete, in one transaction: O(new leaves) rows
and a few reads, whatever the log's size. Two sequencers at once cannot both succeed: the
leaves' indices are the table's primary key, so the second one's transaction fails and is
retried from the new size. A leaf already in the log (a crash after the log's commit, before
the store dropped it from its queue: Firestore's queue is not in this database) is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max

from crypto import logleaf, tlog
from messages.models import LogLeaf, LogNode
from messages.stores.base import MessageStore
from messages.stores.records import PendingLeaf, StoreError

BATCH = 1000
ATTEMPTS = 5


class LogError(Exception):
    """The log cannot be read as a tree (a gap in its indices, a node missing)."""


def size() -> int:
    top = LogLeaf.objects.aggregate(top=Max("index"))["top"]
    return 0 if top is None else int(top) + 1


def node(level: int, index: int) -> bytes:
    """A complete subtree's hash, as stored; LogError if it is missing."""
    if level == 0:
        row = LogLeaf.objects.filter(index=index).values_list("hash", flat=True).first()
    else:
        rows = LogNode.objects.filter(level=level, index=index)
        row = rows.values_list("hash", flat=True).first()
    if row is None:
        raise LogError(f"the log has no node {level}/{index}")
    return bytes(row)


def root(tree_size: int) -> bytes:
    return tlog.root(node, tree_size)


def sequence(store: MessageStore) -> int:
    """Moves every pending leaf into the log; returns how many were appended."""
    appended = 0
    while True:
        pending = store.pending_leaves(BATCH)
        if not pending:
            return appended
        appended += _sequence_batch(store, pending)


def _sequence_batch(store: MessageStore, pending: list[PendingLeaf]) -> int:
    known = set(
        LogLeaf.objects.filter(key__in=[p.key for p in pending]).values_list("key", flat=True)
    )
    fresh = [p for p in pending if p.key not in known]
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _append(size(), fresh)
            break
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise StoreError("another sequencer kept appending at the same time") from None
    # Only once the log holds them; a crash in between leaves them pending, and the next run
    # finds them in the log and drops them.
    store.drop_pending_leaves([p.key for p in pending])
    return len(fresh)


def _append(start: int, pending: list[PendingLeaf]) -> None:
    hashes = [tlog.leaf_hash(p.leaf) for p in pending]
    rows = []
    for offset, (item, digest) in enumerate(zip(pending, hashes, strict=True)):
        fields = logleaf.parse(item.leaf)
        is_record = fields["type"] == logleaf.RECORD
        rows.append(
            LogLeaf(
                index=start + offset,
                key=item.key,
                leaf=item.leaf,
                hash=digest,
                chat_id=fields["chat"],
                message_id=fields["message"] if is_record else None,
                edit_date=fields["edit_date"] if is_record else None,
            )
        )
    LogLeaf.objects.bulk_create(rows)
    made = tlog.new_nodes(start, hashes, node)
    LogNode.objects.bulk_create(
        [LogNode(level=level, index=index, hash=h) for (level, index), h in made.items()]
    )


@dataclass(frozen=True)
class Entry:
    index: int
    key: str
    leaf: bytes
    hash: bytes


def entries(batch: int = 5000) -> Iterator[Entry]:
    """Every leaf of the log in index order (gaps are the caller's to find)."""
    after = -1
    while True:
        rows = list(
            LogLeaf.objects.filter(index__gt=after)
            .order_by("index")
            .values_list("index", "key", "leaf", "hash")[:batch]
        )
        for index, key, leaf, digest in rows:
            yield Entry(index, key, bytes(leaf), bytes(digest))
        if len(rows) < batch:
            return
        after = rows[-1][0]


def find(key: str) -> Entry | None:
    row = LogLeaf.objects.filter(key=key).values_list("index", "key", "leaf", "hash").first()
    return None if row is None else Entry(row[0], row[1], bytes(row[2]), bytes(row[3]))


def inclusion_proof(index: int, tree_size: int) -> list[bytes]:
    return tlog.inclusion_proof(node, index, tree_size)


def consistency_proof(old_size: int, tree_size: int) -> list[bytes]:
    return tlog.consistency_proof(node, old_size, tree_size)
