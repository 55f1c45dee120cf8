"""What the archive's management commands share (zulip's ``zerver/lib/management.py``): the
chat arguments, the progress stream, the terminal confirmation, and for the key-lifecycle
commands --dry-run, --max-rate and --no-progress, printing the report, and exit codes. The
work itself, with its lock, checkpoints and audit entry, is the ``do_*`` function the command
calls; a command parses its arguments, calls it and prints. ``ArchiveCommand`` (the migrated
database check) and ``counted`` live in ``groupie.commands``, which every app may import.

Progress goes to the command's own stderr (``progress_for``), so ``call_command(...,
stderr=...)`` captures it like the rest of the command's output; stdout keeps only the report
and the summary.

Exit codes, for cron and CI: 0 done; 1 failed (the summary and the lines before it say what);
2 bad arguments (Django's); 75 another lifecycle command holds the lock (EX_TEMPFAIL: try
again later).
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from groupie.commands import ArchiveCommand, counted
from groupie.progress import Progress
from messages.keys.actions import STOPPING_ERRORS, Refused, RunOptions
from messages.keys.locking import LockHeld
from messages.keys.operations import NotInArchive, Report
from messages.outcome import ActionError, Outcome

LOCK_HELD = 75
MAX_FAILURE_LINES = 50


class LifecycleCommand(ArchiveCommand):
    writes = True  # offers --dry-run
    paced = False  # offers --max-rate

    def add_arguments(self, parser: ArgumentParser) -> None:
        if self.writes:
            parser.add_argument(
                "--dry-run", action="store_true", help="Report what would change; change nothing."
            )
        if self.paced:
            parser.add_argument(
                "--max-rate",
                type=float,
                default=0,
                metavar="N",
                help="At most N items per second (e.g. to stay inside a Cloud KMS quota).",
            )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar or progress lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = RunOptions(
            progress=progress_for(self, enabled=not options["no_progress"]),
            max_rate=options.get("max_rate") or 0,
        )
        try:
            report = self.run(run, options)
        except LockHeld as exc:
            raise CommandError(
                f"{exc}; try again when it has finished", returncode=LOCK_HELD
            ) from None
        except (NotInArchive, Refused) as exc:
            raise CommandError(str(exc)) from None
        except STOPPING_ERRORS as exc:
            raise CommandError(
                f"{self.name} stopped: {type(exc).__name__}: {exc}. Everything it changed is "
                "complete and consistent; run it again to carry on."
            ) from None
        self.print_report(report)

    @property
    def name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        """Calls the command's one ``do_*`` function."""
        raise NotImplementedError

    def print_report(self, report: Report) -> None:
        for line in report.warnings:
            self.stderr.write(line)
        for line in report.notes:
            self.stdout.write(line)
        for line in report.failures[:MAX_FAILURE_LINES]:
            self.stderr.write(f"FAILED {line}")
        if len(report.failures) > MAX_FAILURE_LINES:
            more = len(report.failures) - MAX_FAILURE_LINES
            self.stderr.write(f"… and {counted(more, 'more failure')}")
        self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(
                f"{self.name} finished with {counted(len(report.failures), 'failure')}"
            )


def print_outcome(command: BaseCommand, outcome: Outcome) -> None:
    """Prints what an action did: its notes and summary on stdout, its warnings on stderr;
    exit status 1 if it failed in part."""
    for line in outcome.notes:
        command.stdout.write(line)
    for line in outcome.warnings:
        command.stderr.write(line)
    command.stdout.write(outcome.summary)
    if outcome.failure:
        raise CommandError(outcome.failure)


class action_errors:
    """``with action_errors():`` turns an action's Refused or Stopped into the command's error
    (exit status 1, the action's words)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if isinstance(error, ActionError):
            raise CommandError(str(error)) from None


def progress_for(command: BaseCommand, *, enabled: bool = True) -> Progress:
    """The progress of ``command``'s work on its stderr: a bar on a terminal, lines otherwise."""
    return Progress(cast(IO[str], _Unwrapped(command.stderr)), enabled=enabled)


class _Unwrapped:
    """The command's stderr as a plain stream. Django's wrapper ends every write with a
    newline and colours stderr on a terminal; a progress bar redraws its line with \\r and
    draws its own colours."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, style_func=_as_is, ending="")
        return len(text)

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()


def _as_is(text: str) -> str:
    return text


def chat_argument(parser: ArgumentParser, *, positional: bool = False) -> None:
    if positional:
        parser.add_argument("chat_id", type=int, help="The Telegram chat id, e.g. -1001234567890.")
    else:
        parser.add_argument(
            "--chat", type=int, metavar="CHAT_ID", help="Only this chat (default: every chat)."
        )


def chats_argument(parser: ArgumentParser, help: str) -> None:
    """A repeatable --chat CHAT_ID (an empty list when not given)."""
    parser.add_argument(
        "--chat", type=int, action="append", default=[], metavar="CHAT_ID", help=help
    )


def confirm_on_terminal(
    command: BaseCommand, *, explain: str, prompt: str, expected: str, refusal: str
) -> bool:
    """Tells the operator what is about to happen and asks them to type ``expected``; True only
    if they do. Without a terminal it refuses with ``refusal`` (naming the flag that skips the
    question)."""
    if not sys.stdin.isatty():
        raise CommandError(refusal)
    if explain:
        command.stdout.write(explain)
    return input(prompt).strip() == expected
