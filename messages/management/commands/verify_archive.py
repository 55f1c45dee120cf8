"""manage.py verify_archive [--chat CHAT_ID]: open everything; exit 1 if anything fails.

With --log [--since CHECKPOINT_FILE]: check the archive log instead (docs/transparency.md):
the store, the log and the signed checkpoints agree; exit 1 naming anything missing, added or
rewritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from crypto.note import NoteError
from messages.keys.actions import RunOptions, do_verify_archive
from messages.keys.operations import Report
from messages.management.base import LifecycleCommand, chat_argument
from messages.transparency.actions import do_verify_log


class Command(LifecycleCommand):
    help = (
        "Opens every revision, head and chat title, and checks every chat's keys. Shredded "
        "chats are reported as shredded. Exits 1 if anything cannot be opened."
    )
    writes = False

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        chat_argument(parser)
        parser.add_argument(
            "--log",
            action="store_true",
            help="Check the archive log: every record logged, every leaf's record kept or "
            "tombstoned, the root signed by the latest checkpoint.",
        )
        parser.add_argument(
            "--since",
            type=Path,
            metavar="CHECKPOINT_FILE",
            help="With --log: an earlier signed checkpoint (e.g. the one published last "
            "month) the log must be consistent with.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["log"]:
            if options["since"] is not None:
                raise CommandError("--since goes with --log")
            super().handle(*args, **options)
            return
        since = None
        if options["since"] is not None:
            try:
                since = options["since"].read_text(encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot read {options['since']}: {exc.strerror}") from None
        try:
            report = do_verify_log(since)
        except NoteError as exc:
            raise CommandError(f"the checkpoint given does not verify: {exc}") from None
        for line in report.problems:
            self.stderr.write(f"FAILED {line}")
        self.stdout.write(f"verify_archive --log: {report.summary()}")
        if report.failed:
            raise CommandError(f"verify_archive --log found {len(report.problems)} problems")

    def run(self, run: RunOptions, options: dict[str, Any]) -> Report:
        return do_verify_archive(chat_id=options["chat"], run=run)
