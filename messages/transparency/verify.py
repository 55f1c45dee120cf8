"""verify_archive --log: the store, the log and the signed checkpoints agree.

- the log's leaves are at indices 0..n-1 with no gap, each hash is its leaf's, and the tree's
  stored interior gives the same root as the leaves recomputed;
- the latest checkpoint's signature holds and its root is the tree's at its size (a log cut
  short, or with a leaf changed before that size, fails here);
- an earlier checkpoint (``--since``, e.g. the one published a month ago) is consistent with it:
  an RFC 6962 consistency proof from the tree as recomputed;
- every revision in the store has a leaf with its envelope's digest (else it was added, or
  rewritten, behind the archive's back), and every record leaf has its revision in the store or
  a later tombstone that accounts for its deletion (else it was deleted behind its back);
- the same for chat events (reactions, membership): every event in the store has an event
  leaf with its envelope's digest, and every event leaf its event or a later tombstone.

Each problem names the record as (chat, message, version), or an event as (chat, event, kind),
where one is concerned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from crypto import logleaf, note, tlog
from messages.stores.base import MessageStore
from messages.stores.records import event_leaf_key, record_leaf_key
from messages.transparency import checkpoints, log

Identity = tuple[int, int, int]


@dataclass
class LogReport:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    def summary(self) -> str:
        parts = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        verdict = f"{len(self.problems)} problems" if self.problems else "no problems"
        return f"{parts}; {verdict}"


@dataclass
class _Log:
    hashes: list[bytes] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    records: dict[Identity, list[tuple[int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    tombstones: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    events: dict[logleaf.EventIdentity, list[tuple[int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _name(identity: Identity, versions: dict[tuple[int, int], list[int]]) -> str:
    chat, message, edit_date = identity
    dates = versions.get((chat, message), [])
    version = dates.index(edit_date) + 1 if edit_date in dates else "?"
    return f"chat {chat} message {message} version {version} (edit_date {edit_date})"


def _read_log(report: LogReport) -> _Log:
    read = _Log()
    for entry in log.entries():
        if entry.index != len(read.hashes):
            report.problems.append(
                f"the log has no leaves {len(read.hashes)}..{entry.index - 1}: removed"
            )
            break
        read.hashes.append(tlog.leaf_hash(entry.leaf))
        read.keys.add(entry.key)
        try:
            fields = logleaf.parse(entry.leaf)
        except ValueError:
            report.problems.append(f"log leaf {entry.index} is not a leaf: rewritten")
            continue
        if entry.hash != read.hashes[-1]:
            report.problems.append(f"log leaf {entry.index}: its stored hash is not its leaf's")
        if fields["type"] == logleaf.RECORD:
            read.records[logleaf.identity(fields)].append((entry.index, fields))
        elif fields["type"] == logleaf.EVENT:
            read.events[logleaf.event_identity(fields)].append((entry.index, fields))
        else:
            read.tombstones.append((entry.index, fields))
    report.counts["leaves"] = len(read.hashes)
    report.counts["tombstones"] = len(read.tombstones)
    return read


def _check_checkpoints(read: _Log, report: LogReport, since: note.Checkpoint | None) -> None:
    latest = checkpoints.latest()
    size = len(read.hashes)
    if latest is None:
        report.problems.append("no checkpoint yet: run manage.py checkpoint")
        return
    try:
        signed = note.open_checkpoint(latest.note, checkpoints.verifier())
    except note.NoteError as exc:
        report.problems.append(f"the latest checkpoint does not verify: {exc}")
        return
    if signed.size > size:
        report.problems.append(
            f"the log is cut short: the checkpoint signed {signed.size} leaves, it holds {size}"
        )
        return
    if tlog.root_of(read.hashes[: signed.size]) != signed.root:
        report.problems.append(
            f"the log's first {signed.size} leaves are not the ones the checkpoint signed"
        )
        return
    if size and log.root(size) != tlog.root_of(read.hashes):
        report.problems.append("the log's stored subtree hashes do not match its leaves")
    report.counts["leaves under the latest checkpoint"] = signed.size
    if since is not None:
        _check_consistency(read, report, since, signed)


def _check_consistency(
    read: _Log, report: LogReport, old: note.Checkpoint, new: note.Checkpoint
) -> None:
    if old.origin != new.origin:
        report.problems.append(f"the earlier checkpoint is of another log ({old.origin})")
        return
    if old.size > new.size:
        report.problems.append(
            f"the earlier checkpoint signed {old.size} leaves, the latest only {new.size}: "
            "the log was cut short"
        )
        return
    stored = {(0, i): h for i, h in enumerate(read.hashes[: new.size])}
    stored.update(tlog.new_nodes(0, read.hashes[: new.size], lambda lv, ix: stored[lv, ix]))
    proof = tlog.consistency_proof(lambda lv, ix: stored[lv, ix], old.size, new.size)
    try:
        tlog.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except tlog.ProofError:
        report.problems.append(
            f"the log is not an extension of the earlier checkpoint ({old.size} leaves): "
            "leaves it signed were changed or removed"
        )
        return
    report.counts["leaves since the earlier checkpoint"] = new.size - old.size


def _check_store(store: MessageStore, read: _Log, report: LogReport) -> None:
    chats = {c.chat_id for c in store.list_chats()} | {i[0] for i in read.records}
    present: set[Identity] = set()
    versions: dict[tuple[int, int], list[int]] = defaultdict(list)
    for chat, message, edit_date in read.records:
        versions[chat, message].append(edit_date)
    stored = []
    for chat in sorted(chats):
        for revision in store.iter_revisions(chat):
            identity = (chat, revision.message_id, revision.edit_date)
            present.add(identity)
            versions[chat, revision.message_id].append(revision.edit_date)
            stored.append((identity, revision.envelope))
    for key in versions:
        versions[key] = sorted(set(versions[key]))
    report.counts["revisions"] = len(stored)
    for identity, envelope in stored:
        if record_leaf_key(*identity, envelope) in read.keys:
            continue
        _not_logged(report, _name(identity, versions), logged=identity in read.records)
    for identity, leaves in read.records.items():
        if identity in present:
            continue
        if _tombstoned(read, leaves):
            report.counts["revisions deleted under a tombstone"] += 1
            continue
        report.problems.append(
            f"{_name(identity, versions)}: missing (deleted without a tombstone)"
        )


def _event_name(identity: logleaf.EventIdentity) -> str:
    chat, kind, event_id, date = identity
    return f"chat {chat} event {event_id} ({kind}, date {date})"


def _not_logged(report: LogReport, name: str, *, logged: bool) -> None:
    """A stored record whose envelope has no leaf: one with another envelope was logged for
    it (rewritten), or none at all (added)."""
    if logged:
        report.problems.append(f"{name}: rewritten (its envelope is not the one logged)")
    else:
        report.problems.append(f"{name}: added (it has no leaf)")


def _tombstoned(read: _Log, leaves: list[tuple[int, dict[str, Any]]]) -> bool:
    last_index, fields = leaves[-1]
    return any(
        index > last_index and logleaf.covers(tombstone, fields)
        for index, tombstone in read.tombstones
    )


def _check_events(store: MessageStore, read: _Log, report: LogReport) -> None:
    chats = (
        {c.chat_id for c in store.list_chats()}
        | {i[0] for i in read.records}
        | {i[0] for i in read.events}
    )
    present: set[logleaf.EventIdentity] = set()
    report.counts["events"] = 0
    for chat in sorted(chats):
        for event in store.iter_events(chat):
            identity = (chat, event.kind, event.event_id, event.date)
            present.add(identity)
            report.counts["events"] += 1
            if event_leaf_key(chat, event.event_id, event.date, event.envelope) in read.keys:
                continue
            _not_logged(report, _event_name(identity), logged=identity in read.events)
    for identity, leaves in read.events.items():
        if identity in present:
            continue
        if _tombstoned(read, leaves):
            report.counts["events deleted under a tombstone"] += 1
            continue
        report.problems.append(f"{_event_name(identity)}: missing (deleted without a tombstone)")


def verify_log(store: MessageStore, since: note.Checkpoint | None = None) -> LogReport:
    """Reads the whole log and every revision of the store (after sequencing what was
    pending: the caller does that)."""
    report = LogReport()
    read = _read_log(report)
    _check_checkpoints(read, report, since)
    _check_store(store, read, report)
    _check_events(store, read, report)
    return report
