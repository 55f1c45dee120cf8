"""Long commands show a bar on a terminal and plain lines in logs (cron, CI)."""

from __future__ import annotations

import io

import pytest

from groupie import progress
from groupie.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_redrawn_bar() -> None:
    stream = Terminal()
    assert list(Progress(stream).iterate(range(50), 50, "chat keys")) == list(range(50))
    shown = stream.getvalue()
    assert "\r" in shown
    assert "/50 [" in shown
    assert " chat keys/s]" in shown
    assert shown.endswith("\r")  # cleared when done: the summary line follows on its own


def test_a_log_gets_a_plain_line_per_tenth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "QUIET_SECONDS", 0)
    stream = io.StringIO()
    batches = [(1, list(range(25)))] * 4
    assert list(Progress(stream).iterate_batches(batches, 100, "revisions")) == batches
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split()[0] for line in lines] == ["25/100", "50/100", "75/100", "100/100"]
    assert lines[-1].startswith("  100/100 revisions (100%,")


def test_short_work_and_no_progress_print_nothing() -> None:
    stream = io.StringIO()
    list(Progress(stream).iterate(range(1000), 1000, "chat keys"))
    list(Progress(Terminal(), enabled=False).iterate(range(10), 10, "chat keys"))
    assert stream.getvalue() == ""


def test_work_that_counts_its_own_steps_shows_them_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """build_search_index reports each batch it indexed through ``counting``."""
    monkeypatch.setattr(progress, "QUIET_SECONDS", 0)
    stream = io.StringIO()
    with Progress(stream).counting(40, "versions of chat 7") as add:
        for _ in range(4):
            add(10)
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["10/40", "20/40", "30/40", "40/40"]
    terminal = Terminal()
    with Progress(terminal).counting(40, "versions") as add:
        add(40)
    assert "/40 [" in terminal.getvalue()  # a bar of the whole, redrawn as it goes
