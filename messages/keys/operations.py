"""The key-lifecycle operations, on a store and a ChatKeys (which holds the keyring).

Each operation is safe to interrupt at any point and to run again: every change is one
atomic compare-and-set in the store (a chat's key versions, or a batch of re-sealed records),
and each run works out what is left to do from what is stored, not from a log. Nothing here
prints plaintext or key material; failures name chats, messages and versions only.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from crypto import blindindex, envelope
from crypto.chatkeys import (
    ACTIVE,
    DESTROYED,
    OPENABLE,
    RETIRED,
    SUPERSEDED,
    ChatKeyRecord,
    ChatKeys,
    is_shredded,
)
from crypto.envelope import event_identity, message_identity, title_identity
from crypto.errors import CryptoError, DecryptionError, KeyringError
from crypto.keyrings.base import Keyring
from groupie import strictjson
from groupie.commands import counted
from groupie.progress import Progress
from messages.media import files
from messages.models import SearchIndex
from messages.search import index as search_index
from messages.stores.base import MessageStore
from messages.stores.records import (
    EventReseal,
    IndexEntry,
    PendingLeaf,
    Reseal,
    SealedEvent,
    SealedRevision,
    StoredMessage,
)
from messages.transparency import leaves

BATCH = 200
COMPACT_BATCH = 500  # revision records read per batch by compact_envelopes
T = TypeVar("T")
CAS_ATTEMPTS = 5
CLOCK_MARGIN = 1.0  # seconds: a key's changed_at may come from another machine's clock


class NotInArchive(Exception):
    """The chat named has no records and no keys."""


class KeysKeptChanging(Exception):
    """Another process changed a chat's keys every time this one tried to."""


@dataclass
class Report:
    """What a run did, for its summary line; failures are lines naming ids, never content."""

    command: str
    dry_run: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines for the operator, on stdout
    warnings: list[str] = field(default_factory=list)  # said on stderr, not failures
    seconds: float = 0.0
    _failed: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def fail(self, line: str) -> None:
        """Records a failure once: passes that meet the same record (a head's envelope is its
        newest version's, opened with the revisions and again with the heads) name it once."""
        if line not in self._failed:
            self._failed.add(line)
            self.failures.append(line)

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def summary(self) -> str:
        parts = [f"{n:,} {noun(name, n)}" for name, n in self.counts.items()]
        parts.append(f"{len(self.failures):,} failed")
        tail = "; dry run, nothing changed" if self.dry_run else ""
        return f"{self.command}: {', '.join(parts)} ({self.seconds:.1f} s){tail}"


class Pacer:
    """Keeps a loop under ``rate`` iterations per second (0: no limit), e.g. to stay inside a
    Cloud KMS quota while rewrapping."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate if rate > 0 else 0.0
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


@dataclass
class Lifecycle:
    store: MessageStore
    chat_keys: ChatKeys
    progress: Progress
    renew: Callable[[], None] = lambda: None  # called per item: renews the command's lease
    pacer: Pacer = field(default_factory=lambda: Pacer(0))

    @property
    def keyring(self) -> Keyring:
        return self.chat_keys.keyring

    def step(self) -> None:
        """Called before each item: keeps the lease alive and the pace under --max-rate."""
        self.renew()
        self.pacer.wait()

    # -- helpers ------------------------------------------------------------------------------

    def keys_by_chat(self, chat_id: int | None = None) -> dict[int, list[ChatKeyRecord]]:
        if chat_id is not None:
            records = self.store.get_chat_keys(chat_id)
            if not records and self.store.get_chat(chat_id) is None:
                raise NotInArchive(f"chat {chat_id} is not in the archive")
            return {chat_id: records}
        grouped: dict[int, list[ChatKeyRecord]] = {}
        for record in self.store.iter_chat_keys():
            grouped.setdefault(record.chat_id, []).append(record)
        return grouped

    def _change(
        self,
        chat_id: int,
        plan: Callable[[list[ChatKeyRecord]], list[ChatKeyRecord] | None],
        records: list[ChatKeyRecord] | None = None,
    ) -> list[ChatKeyRecord] | None:
        """Applies ``plan`` (current versions -> versions to write, or None for nothing to do)
        as a compare-and-set, reading again and re-planning if another process changed the
        chat's keys in between. Returns what was written, or None."""
        for _ in range(CAS_ATTEMPTS):
            current = records if records is not None else self.store.get_chat_keys(chat_id)
            records = None
            changed = plan(current)
            if changed is None:
                return None
            if self.store.change_chat_keys(chat_id, current, changed):
                self.chat_keys.forget(chat_id)
                return changed
        raise KeysKeptChanging(f"chat {chat_id}'s keys kept changing while this run changed them")

    def wait_for_late_writes(self, since: datetime | None) -> None:
        """Returns once no record sealed with a key version that stopped being active at
        ``since`` can still be stored: at once on SQL stores, up to the store's
        late_write_window on Firestore (which leases key state instead of reading it per
        message)."""
        window = self.store.late_write_window
        if not window or since is None:
            return
        left = (since - datetime.now(UTC)).total_seconds() + window + CLOCK_MARGIN
        if left > 0:
            self.progress.note(
                f"  waiting {left:.0f} s for writes still in flight under the old key versions "
                "(the store leases key state for that long)"
            )
            time.sleep(left)

    # -- rewrap_keys ----------------------------------------------------------------------------

    def rewrap_keys(self, *, dry_run: bool) -> Report:
        """Rewraps every chat key not under the primary KEK version. Two keyring calls per
        chat key moved; no message record is read or written."""
        report = Report("rewrap_keys", dry_run=dry_run)
        primary = self.keyring.primary_version()
        chats = self.keys_by_chat()
        stale = {
            chat_id: [r for r in records if r.state in OPENABLE and r.kek_version != primary]
            for chat_id, records in chats.items()
        }
        todo = sum(len(v) for v in stale.values())
        report.counts["chat keys"] = sum(
            1 for records in chats.values() for r in records if r.state in OPENABLE
        )
        report.counts["already under the primary KEK version"] = report.counts["chat keys"] - todo
        if dry_run:
            report.counts["would be rewrapped"] = todo
            return report
        report.counts["rewrapped"] = 0
        work = ((chat_id, r) for chat_id, rs in stale.items() for r in rs)
        for chat_id, record in self.progress.iterate(work, todo, "chat keys"):
            self.step()
            if self._rewrap_one(chat_id, record.version, report):
                report.counts["rewrapped"] += 1
        return report

    def _rewrap_one(self, chat_id: int, version: int, report: Report) -> bool:
        def plan(current: list[ChatKeyRecord]) -> list[ChatKeyRecord] | None:
            record = next((r for r in current if r.version == version), None)
            if record is None or record.state not in OPENABLE:
                return None  # retired or shredded meanwhile
            key, primary = self.chat_keys.unwrap(record)
            if primary:
                return None  # rewrapped meanwhile (or the primary changed to its version)
            wrapped, kek_version = self.chat_keys.wrap(chat_id, version, key)
            return [replace(record, wrapped=wrapped, kek_version=kek_version)]

        try:
            return self._change(chat_id, plan) is not None
        except DecryptionError as exc:
            report.fail(f"chat {chat_id} key v{version}: {type(exc).__name__}: {exc}")
            return False

    # -- rotate_chat_keys -----------------------------------------------------------------------

    def rotate_chat_keys(self, *, chat_id: int | None, cutoff: datetime, dry_run: bool) -> Report:
        """Gives each chat (or one) a new active key version unless its active version was
        created at or after ``cutoff`` (the start of the run, kept across a resumed run). The
        old version becomes superseded: it still opens its records until reencrypt_messages
        moves them."""
        report = Report("rotate_chat_keys", dry_run=dry_run)
        if not dry_run:
            # New chat keys are wrapped by this keyring: never by another deployment's.
            self.chat_keys.verify_keyring()
        chats = self.keys_by_chat(chat_id)
        due = {
            c: records
            for c, records in chats.items()
            if any(r.state == ACTIVE and r.created_at < cutoff for r in records)
        }
        keyed = sum(1 for records in chats.values() if any(r.state == ACTIVE for r in records))
        report.counts["chats"] = keyed  # shredded chats have no active key: nothing to rotate
        report.counts["already rotated"] = keyed - len(due)
        if dry_run:
            report.counts["would be rotated"] = len(due)
            return report
        report.counts["rotated"] = 0
        for chat, records in self.progress.iterate(due.items(), len(due), "chats"):
            self.step()
            if self._rotate_one(chat, records, cutoff):
                report.counts["rotated"] += 1
        return report

    def _rotate_one(self, chat_id: int, records: list[ChatKeyRecord], cutoff: datetime) -> bool:
        def plan(current: list[ChatKeyRecord]) -> list[ChatKeyRecord] | None:
            active = [r for r in current if r.state == ACTIVE]
            if not active or all(r.created_at >= cutoff for r in active):
                return None
            new, _ = self.chat_keys.new_record(chat_id, max(r.version for r in current) + 1)
            superseded = [replace(r, state=SUPERSEDED, changed_at=new.created_at) for r in active]
            return [*superseded, new]

        return self._change(chat_id, plan, records) is not None

    # -- reencrypt_messages ---------------------------------------------------------------------

    def reencrypt_messages(self, *, chat_id: int | None, dry_run: bool) -> Report:
        """Re-seals every record under a superseded key version with the chat's active key,
        then retires the superseded versions (their wrapped keys are erased)."""
        report = Report("reencrypt_messages", dry_run=dry_run)
        chats = self.keys_by_chat(chat_id)
        pending = {
            c: [r.version for r in records if r.state == SUPERSEDED] for c, records in chats.items()
        }
        pending = {c: versions for c, versions in pending.items() if versions}
        counts = self.store.count_revisions(chat_id)
        total = sum(counts.get((c, v), 0) for c, vs in pending.items() for v in vs)
        report.counts["chats with superseded keys"] = len(pending)
        if dry_run:
            report.counts["revisions would be re-sealed"] = total
            report.counts["media files would be re-sealed"] = sum(
                files.count_under(c, vs) for c, vs in pending.items()
            )
            report.counts["events would be re-sealed"] = sum(
                sum(self.store.count_events(c, vs).values()) for c, vs in pending.items()
            )
            report.counts["key versions would be retired"] = sum(map(len, pending.values()))
            return report
        report.counts["revisions re-sealed"] = 0
        report.counts["media files re-sealed"] = 0
        report.counts["events re-sealed"] = 0
        report.counts["key versions retired"] = 0
        superseded_at = [
            r.changed_at or r.created_at for c in pending for r in chats[c] if r.state == SUPERSEDED
        ]
        self.wait_for_late_writes(max(superseded_at, default=None))
        revisions = self._superseded_revisions(pending)
        for chat, batch in self.progress.iterate_batches(revisions, total, "revisions"):
            self.renew()
            try:
                if batch:
                    report.counts["revisions re-sealed"] += self._reseal(chat, batch, report)
                else:  # the chat's last batch is done: its title, events and media, then retire
                    self._reseal_title(chat, pending[chat], report)
                    events = self._reseal_events(chat, pending[chat], report)
                    report.counts["events re-sealed"] += events
                    media = files.reseal(chat, pending[chat])
                    report.counts["media files re-sealed"] += media.done
                    report.failures += media.failures
                    retired = self._retire(chat, pending[chat], report)
                    report.counts["key versions retired"] += retired
            except KeyringError:
                raise
            except CryptoError as exc:  # e.g. the chat's active key does not unwrap
                report.fail(f"chat {chat}: cannot re-seal: {type(exc).__name__}: {exc}")
        return report

    def _superseded_revisions(
        self, pending: dict[int, list[int]]
    ) -> Iterator[tuple[int, list[SealedRevision]]]:
        """Each chat's revisions under its superseded versions, in batches, then an empty
        batch to say the chat is done (while its keys are still in the cache)."""
        for chat_id, versions in pending.items():
            for version in versions:
                for batch in _batches(self.store.iter_revisions(chat_id, key_version=version)):
                    yield chat_id, batch
            yield chat_id, []

    def _reseal(self, chat_id: int, batch: list[SealedRevision], report: Report) -> int:
        version, key = self.chat_keys.active_key(chat_id)
        identities = [message_identity(chat_id, r.message_id, r.edit_date) for r in batch]
        sealed = [(identity, r.envelope) for identity, r in zip(identities, batch, strict=True)]
        opened = self._open(chat_id, sealed, report)
        reseals = []
        indexed = SearchIndex.objects.filter(chat_id=chat_id).exists()
        index_key = blindindex.index_key(key) if indexed else None
        entries: list[IndexEntry] = []
        logged: list[PendingLeaf] = []
        for revision, identity, plaintext in zip(batch, identities, opened, strict=True):
            self.step()
            if plaintext is None:
                continue  # reported: it stays under its old key, which is then not retired
            new = envelope.seal(key, version, identity, plaintext)
            reseals.append(
                Reseal(revision.message_id, revision.edit_date, revision.envelope, new, version)
            )
            logged.append(_resealed_leaf(key, version, revision, new, plaintext))
            if index_key:  # its search tokens under the new key too, before the old one goes
                tokens = search_index.index_tokens(index_key, search_index.text_of(plaintext))
                entries.append(IndexEntry(revision.message_id, version, tokens))
        self.store.add_search_tokens(chat_id, [e for e in entries if e.tokens])
        # The new envelopes' leaves first: a revision is never stored without its leaf (one
        # whose reseal lost a race keeps its old envelope, logged before).
        self.store.add_pending_leaves(logged)
        return self.store.replace_envelopes(chat_id, reseals) if reseals else 0

    def _reseal_title(self, chat_id: int, versions: list[int], report: Report) -> None:
        chat = self.store.get_chat(chat_id)
        if chat is None or chat.sealed_title is None:
            return
        old = chat.sealed_title
        try:
            if envelope.key_version_of(old) not in versions:
                return
            old_key = self.chat_keys.key(chat_id, envelope.key_version_of(old))
            title = envelope.open_envelope(old_key, title_identity(chat_id), old)
        except CryptoError as exc:
            report.fail(f"chat {chat_id} title: {type(exc).__name__}")
            return
        version, key = self.chat_keys.active_key(chat_id)
        new = envelope.seal(key, version, title_identity(chat_id), title)
        # A newer message may have replaced the title meanwhile, sealed with the active key.
        self.store.replace_chat_title(chat_id, old, new)

    def _reseal_events(self, chat_id: int, versions: list[int], report: Report) -> int:
        """Re-seals the chat's events (reactions, membership) still under ``versions`` with
        the active key; returns how many changed. Iterating by sort_key is safe while they
        change: a reseal keeps an event's place."""
        wanted = set(versions)
        superseded = (e for e in self.store.iter_events(chat_id) if e.key_version in wanted)
        changed = 0
        for batch in _batches(superseded):
            self.renew()
            version, key = self.chat_keys.active_key(chat_id)
            items = [_event_item(e) for e in batch]
            reseals, logged = [], []
            for event, (identity, _), plaintext in zip(
                batch, items, self._open(chat_id, items, report), strict=True
            ):
                self.step()
                if plaintext is None:
                    continue  # reported: it stays under its old key, which is then not retired
                new = envelope.seal(key, version, identity, plaintext)
                reseals.append(EventReseal(event.sort_key, event.envelope, new, version))
                logged.append(_resealed_event_leaf(key, version, event, new, plaintext))
            # The new envelopes' leaves first, as for revisions.
            self.store.add_pending_leaves(logged)
            changed += self.store.replace_event_envelopes(chat_id, reseals)
        return changed

    def _retire(self, chat_id: int, versions: list[int], report: Report) -> int:
        """Retires the versions once nothing stored names them any more."""
        counts = self.store.count_revisions(chat_id)
        left = sum(counts.get((chat_id, v), 0) for v in versions)
        left += sum(self.store.count_events(chat_id, versions).values())
        chat = self.store.get_chat(chat_id)
        title = chat.sealed_title if chat is not None else None
        if title is not None and _version_or_none(title) in versions:
            left += 1
        left += files.count_under(chat_id, versions)
        if left:
            report.fail(
                f"chat {chat_id}: {left} records still use key versions "
                f"{', '.join(map(str, versions))}; they stay superseded (not retired)"
            )
            return 0

        def plan(current: list[ChatKeyRecord]) -> list[ChatKeyRecord] | None:
            retiring = [r for r in current if r.version in versions and r.state == SUPERSEDED]
            return [r.erased(RETIRED) for r in retiring] or None

        changed = self._change(chat_id, plan)
        # The retired versions' search tokens can no longer be computed by a search: the
        # re-sealing re-keyed them under the active version, so they go.
        dropped = self.store.drop_search_tokens(chat_id, versions)
        if dropped:
            report.counts["search tokens re-keyed"] += dropped
        return len(changed or [])

    # -- shred_chat -----------------------------------------------------------------------------

    def shred_chat(self, chat_id: int, *, dry_run: bool) -> Report:
        """Destroys every version of the chat's key, then deletes its records. Run again after
        an interruption, it finishes the deletion."""
        report = Report("shred_chat", dry_run=dry_run)
        records = self.keys_by_chat(chat_id)[chat_id]
        chat = self.store.get_chat(chat_id)
        counts = self.store.count_revisions(chat_id)
        live = [r for r in records if r.state != DESTROYED]
        if dry_run:
            report.counts["key versions would be destroyed"] = len(live)
            report.counts["messages would be deleted"] = chat.message_count if chat else 0
            report.counts["revisions would be deleted"] = sum(counts.values())
            report.counts["events would be deleted"] = len(list(self.store.iter_events(chat_id)))
            report.counts["media files would be deleted"] = files.count_media_before(chat_id, 2**62)
            return report

        def plan(current: list[ChatKeyRecord]) -> list[ChatKeyRecord] | None:
            return [r.erased(DESTROYED) for r in current if r.state != DESTROYED] or None

        destroyed = self._change(chat_id, plan, records)
        # Destroyed now, or by an interrupted run: either way, no deleting before late writes.
        changes = [r.changed_at for r in destroyed or records if r.changed_at is not None]
        self.wait_for_late_writes(max(changes, default=None))
        # The log says what goes and why before it goes (docs/transparency.md).
        leaves.log_tombstone(self.store, chat_id, "shred")
        deleted = self.store.delete_chat(chat_id)  # with its search tokens
        SearchIndex.objects.filter(chat_id=chat_id).delete()
        media = files.delete_chat_media(chat_id)
        self.chat_keys.forget(chat_id)
        if not self.store.erase_deleted():
            report.warnings.append(
                "note: the store could not yet erase what the deleted records left in its own "
                "files (SQLite: another connection kept it from emptying its write-ahead log); "
                "that happens at a later checkpoint, or run shred_chat again"
            )
        report.counts["key versions destroyed"] = len(destroyed or [])
        report.counts["messages deleted"] = deleted.messages
        report.counts["revisions deleted"] = deleted.revisions
        report.counts["events deleted"] = deleted.events
        report.counts["media files deleted"] = media
        return report

    # -- verify_archive -------------------------------------------------------------------------

    def compact_envelopes(self, *, chat_id: int | None, dry_run: bool) -> Report:
        """Deletes the revision records that repeat their head's version, chat by chat in
        batches of COMPACT_BATCH, each all or nothing: an archive stored before each version's
        envelope was kept once then holds it once. Reads are right before, during and after;
        interrupted, running it again carries on (what is deleted stays deleted)."""
        report = Report("compact_envelopes", dry_run=dry_run)
        if chat_id is not None and self.store.get_chat(chat_id) is None:
            raise NotInArchive(f"chat {chat_id} is not in the archive")
        chats = [chat_id] if chat_id is not None else [c.chat_id for c in self.store.list_chats()]
        removed = "duplicates would be deleted" if dry_run else "duplicates deleted"
        report.counts["chats"] = len(chats)
        report.counts["revision records read"] = 0
        report.counts[removed] = 0
        for chat in self.progress.iterate(chats, len(chats), "chats"):
            after = None
            while True:
                self.step()
                batch = self.store.compact_envelopes(
                    chat, after=after, limit=COMPACT_BATCH, dry_run=dry_run
                )
                if batch.scanned == 0 or batch.last is None:
                    break
                report.counts["revision records read"] += batch.scanned
                report.counts[removed] += batch.removed
                after = batch.last
        return report

    def verify_archive(self, *, chat_id: int | None) -> Report:
        """Opens every revision, head, title and event; checks each chat's keys. Shredded chats are
        reported as such, and as a failure only if records of theirs remain."""
        report = Report("verify_archive")
        chats = self.keys_by_chat(chat_id)
        directory = (
            {c.chat_id: c for c in self.store.list_chats()}
            if chat_id is None
            else {c.chat_id: c for c in filter(None, [self.store.get_chat(chat_id)])}
        )
        shredded = sorted(c for c, rs in chats.items() if is_shredded(rs) and c not in directory)
        report.counts["chats"] = len(directory)
        report.counts["revisions opened"] = 0
        report.counts["heads opened"] = 0
        report.counts["events opened"] = 0
        report.counts["media files opened"] = 0
        report.counts["shredded chats"] = len(shredded)
        report.notes += [f"chat {c}: shredded" for c in shredded]
        for chat in directory.values():
            self._check_keys(chat.chat_id, chats.get(chat.chat_id, []), report)
        total = sum(self.store.count_revisions(chat_id).values())
        for batch_chat, batch in self.progress.iterate_batches(
            self._all_revisions(directory), total, "revisions"
        ):
            self.renew()
            items = [
                (message_identity(batch_chat, r.message_id, r.edit_date), r.envelope) for r in batch
            ]
            report.counts["revisions opened"] += _count(self._open(batch_chat, items, report))
        for chat in directory.values():
            seen = 0
            for batch_heads in _batches(self.store.iter_heads(chat.chat_id)):
                self.renew()
                seen += len(batch_heads)
                heads_opened = self._open(
                    chat.chat_id, [_head_item(h) for h in batch_heads], report
                )
                report.counts["heads opened"] += _count(heads_opened)
            if seen != chat.message_count:
                report.fail(
                    f"chat {chat.chat_id}: the directory counts "
                    f"{counted(chat.message_count, 'message')}, "
                    f"the store holds {seen}"
                )
            if chat.sealed_title is not None:
                title = [(title_identity(chat.chat_id), chat.sealed_title)]
                self._open(chat.chat_id, title, report)
            for batch_events in _batches(self.store.iter_events(chat.chat_id)):
                self.renew()
                events_opened = self._open(
                    chat.chat_id, [_event_item(e) for e in batch_events], report
                )
                report.counts["events opened"] += _count(events_opened)
            media = files.verify(chat.chat_id)
            report.counts["media files opened"] += media.done
            report.failures += media.failures
            report.notes += media.notes
        return report

    def _check_keys(self, chat_id: int, records: list[ChatKeyRecord], report: Report) -> None:
        if is_shredded(records):
            report.fail(
                f"chat {chat_id}: its keys are destroyed but its records remain; "
                f"run shred_chat {chat_id} again to finish"
            )
            return
        active = [r for r in records if r.state == ACTIVE]
        if len(active) != 1:
            report.fail(f"chat {chat_id}: {len(active)} active key versions (expected 1)")
        for record in records:
            if record.state not in OPENABLE:
                continue
            try:
                self.chat_keys.key(chat_id, record.version)
            except DecryptionError as exc:
                report.fail(f"chat {chat_id} key v{record.version}: {exc}")

    def _all_revisions(self, chat_ids: Iterable[int]) -> Iterator[tuple[int, list[SealedRevision]]]:
        for chat_id in chat_ids:
            for batch in _batches(self.store.iter_revisions(chat_id)):
                yield chat_id, batch

    def _open(
        self,
        chat_id: int,
        items: list[tuple[envelope.Identity, bytes]],
        report: Report,
    ) -> list[bytes | None]:
        """Opens a batch of one chat's records; each that fails is reported and comes back
        as None."""
        opened: list[bytes | None] = []
        for (identity, _), result in zip(items, self.chat_keys.open_many(items), strict=True):
            if isinstance(result, CryptoError):
                what = _what(identity)
                report.fail(f"chat {chat_id} {what}: {type(result).__name__}")
                opened.append(None)
            else:
                opened.append(result)
        return opened


def noun(name: str, count: int) -> str:
    """ "2 chat keys" but "1 chat key": the counted noun is the first plural of two words."""
    if count != 1:
        return name
    words = name.split(" ")
    for index, word in enumerate(words[:2]):
        if word.endswith("s") and word not in ("is", "was"):
            words[index] = word[:-1]
            break
    return " ".join(words)


def _committed_content(plaintext: bytes) -> Any:
    try:
        return strictjson.loads_stored(plaintext)
    except ValueError:  # not a Telegram message object: committed to as its text
        return plaintext.decode("utf-8", "replace")


def _resealed_leaf(
    key: bytes, version: int, revision: SealedRevision, new: bytes, plaintext: bytes
) -> PendingLeaf:
    leaf = leaves.record_leaf(
        key,
        version,
        chat_id=revision.chat_id,
        message_id=revision.message_id,
        edit_date=revision.edit_date,
        envelope=new,
        message=_committed_content(plaintext),
    )
    return leaves.pending_record(
        revision.chat_id, revision.message_id, revision.edit_date, new, leaf
    )


def _resealed_event_leaf(
    key: bytes, version: int, event: SealedEvent, new: bytes, plaintext: bytes
) -> PendingLeaf:
    leaf = leaves.event_leaf(
        key,
        version,
        chat_id=event.chat_id,
        kind=event.kind,
        event_id=event.event_id,
        date=event.date,
        envelope=new,
        event=_committed_content(plaintext),
    )
    return leaves.pending_event(event.chat_id, event.event_id, event.date, new, leaf)


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def _count(opened: list[bytes | None]) -> int:
    return sum(1 for plaintext in opened if plaintext is not None)


def _head_item(head: StoredMessage) -> tuple[envelope.Identity, bytes]:
    return message_identity(head.chat_id, head.message_id, head.edit_date), head.envelope


def _event_item(event: SealedEvent) -> tuple[envelope.Identity, bytes]:
    identity = event_identity(event.chat_id, event.kind, event.event_id, event.date)
    return identity, event.envelope


def _what(identity: envelope.Identity) -> str:
    """A record named by its identity, for a failure line."""
    if identity.purpose == envelope.TITLE_PURPOSE:
        return "title"
    if identity.purpose.startswith(f"{envelope.EVENT_PURPOSE}:"):
        kind = identity.purpose.removeprefix(f"{envelope.EVENT_PURPOSE}:")
        return f"event {identity.message_id} ({kind})"
    return f"message {identity.message_id} revision {identity.revision}"


def _version_or_none(sealed: bytes) -> int | None:
    try:
        return envelope.key_version_of(sealed)
    except CryptoError:
        return None
