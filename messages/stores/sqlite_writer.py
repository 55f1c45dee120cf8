"""Group commit for SQLite: one writer thread per process commits waiting writes together.

SQLite admits one writer at a time and every commit is an fsync. Under concurrent webhook
deliveries, writers would queue for the lock and pay an fsync each. Here request threads hand
their write to the process's writer thread and wait; the writer takes whatever has queued up,
applies it in one transaction and commits once, then answers each request with its own
outcome. A request still gets its answer only after the commit that holds its write (so a 200
is still durable), and a failing batch is retried one write at a time so that one bad write
cannot fail the others.

Across processes (gunicorn workers) the writers queue on an flock beside the database file,
woken by the kernel the moment the lock is free, instead of SQLite's busy-timeout polling.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import DatabaseError, connection, transaction

from messages.stores.records import StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[Any], T]  # given a cursor, does one write and returns its result

MAX_BATCH = 64
WAIT_SECONDS = 20.0  # well inside Telegram's ~60 s: a 503 it will retry, not a hang


def uses_group_commit() -> bool:
    """Only for a SQLite database in a file: in-memory test databases are per connection."""
    name = str(connection.settings_dict.get("NAME") or "")
    return connection.vendor == "sqlite" and bool(name) and "memory" not in name


@contextmanager
def file_lock(database: str) -> Iterator[None]:
    fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class GroupCommitter:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Work[Any], Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, work: Work[T]) -> T:
        """Runs ``work`` in the next group transaction and returns its result once committed.

        Raises StoreError if the write failed or was not committed in time."""
        self._ensure_thread()
        future: Future[T] = Future()
        self._queue.put((work, future))
        try:
            return future.result(timeout=WAIT_SECONDS)
        except TimeoutError:
            raise StoreError("the SQLite writer did not commit in time") from None

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="groupie-sqlite-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception:
                logger.exception("SQLite writer failed a batch of %d", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StoreError("the SQLite writer failed"))

    def _commit(self, batch: list[tuple[Work[Any], Future[Any]]]) -> None:
        database = str(connection.settings_dict["NAME"])
        try:
            with file_lock(database), transaction.atomic(), connection.cursor() as cursor:
                results = [work(cursor) for work, _ in batch]
        except DatabaseError:
            connection.close()
            if len(batch) == 1:
                batch[0][1].set_exception(StoreError("database error in the SQLite writer"))
                return
            for item in batch:  # alone, so one failing write does not fail the rest
                self._commit([item])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


committer = GroupCommitter()


def in_own_transaction(write: Callable[[], T]) -> T:
    """Runs ``write`` (ORM calls) in a transaction of Django's database and returns its result
    once committed: in the process's group commit on a SQLite file (one fsync for what is
    waiting, queued on the file lock across processes, not on SQLite's busy-wait), inside the
    caller's transaction when there is one, else in a transaction of its own."""
    if uses_group_commit() and not connection.in_atomic_block:
        return committer.submit(lambda _cursor: write())
    with transaction.atomic():
        return write()
