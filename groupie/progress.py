"""Progress for long commands: a tqdm bar on a terminal, plain lines otherwise (cron, CI, logs).

The one place that draws progress: the ``do_*`` actions take a ``Progress`` and commands make
theirs with ``messages.management.base.progress_for`` (on the command's stderr). Plumbing that
any app may use, so it lives here and not in a domain package."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, BinaryIO, TypeVar, cast

from tqdm import tqdm

T = TypeVar("T")
K = TypeVar("K")

LINE_EVERY_SECONDS = 10.0
QUIET_SECONDS = 2.0  # work that finishes sooner prints no progress lines at all


class Progress:
    """Counts work done out of ``total`` and shows it on ``stream`` (stderr, so that stdout
    keeps only the report and summary)."""

    def __init__(self, stream: IO[str], *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled

    def note(self, line: str) -> None:
        """A line about the work (a wait, say) for whoever watches it."""
        if self.enabled:
            self.stream.write(line + "\n")
            self.stream.flush()

    def iterate(self, items: Iterable[T], total: int, what: str) -> Iterator[T]:
        if not self.enabled or total == 0:
            yield from items
            return
        if _is_terminal(self.stream):
            yield from tqdm(items, total=total, unit=f" {what}", file=self.stream, leave=False)
            return
        yield from self._lines(items, total, what)

    def iterate_batches(
        self, batches: Iterable[tuple[K, list[T]]], total: int, what: str
    ) -> Iterator[tuple[K, list[T]]]:
        """Like ``iterate`` for batches, counting the items in them."""
        if not self.enabled or total == 0:
            yield from batches
            return
        if _is_terminal(self.stream):
            with tqdm(total=total, unit=f" {what}", file=self.stream, leave=False) as bar:
                for key, batch in batches:
                    yield key, batch
                    bar.update(len(batch))
            return
        counter = _LineCounter(self.stream, total, what)
        for key, batch in batches:
            yield key, batch
            counter.add(len(batch))

    @contextmanager
    def counting(self, total: int, what: str) -> Iterator[Callable[[int], None]]:
        """For work that reports its own steps: yields ``add(count)``."""
        if not self.enabled or total == 0:
            yield lambda count: None
        elif _is_terminal(self.stream):
            with tqdm(total=total, unit=f" {what}", file=self.stream, leave=False) as bar:

                def add(count: int) -> None:
                    bar.update(count)

                yield add
        else:
            yield _LineCounter(self.stream, total, what).add

    @contextmanager
    def reading(self, file: BinaryIO, size: int, what: str) -> Iterator[BinaryIO]:
        """``file`` whose reads move a bar (bytes of ``size``) on a terminal; elsewhere
        ``file`` itself: a parser's reads are too fine-grained for lines to say much."""
        if not self.enabled or size == 0 or not _is_terminal(self.stream):
            yield file
            return
        with tqdm.wrapattr(file, "read", total=size, desc=what, file=self.stream) as wrapped:
            yield cast(BinaryIO, wrapped)

    def _lines(self, items: Iterable[T], total: int, what: str) -> Iterator[T]:
        counter = _LineCounter(self.stream, total, what)
        for item in items:
            yield item
            counter.add(1)


class _LineCounter:
    """A line at each tenth of the way and at least every ten seconds, once the work has run
    for a couple of seconds."""

    def __init__(self, stream: IO[str], total: int, what: str) -> None:
        self.stream, self.total, self.what = stream, total, what
        self.started = self.last = time.monotonic()
        self.step = max(total // 10, 1)
        self.next_step = self.step
        self.done = 0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        due = self.done >= self.next_step or now - self.last >= LINE_EVERY_SECONDS
        if due and now - self.started >= QUIET_SECONDS:
            rate = self.done / max(now - self.started, 1e-9)
            percent = 100 * self.done // self.total
            self.stream.write(
                f"  {self.done:,}/{self.total:,} {self.what} ({percent}%, {rate:,.0f}/s)\n"
            )
            self.stream.flush()
            self.last = now
            while self.next_step <= self.done:
                self.next_step += self.step


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
