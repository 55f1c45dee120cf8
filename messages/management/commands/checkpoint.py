"""manage.py checkpoint [--output FILE] [--publish] | --public-key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crypto.errors import CryptoError
from groupie.commands import ArchiveCommand
from messages.stores.records import StoreError
from messages.transparency import checkpoints
from messages.transparency.actions import do_checkpoint


class Command(ArchiveCommand):
    help = (
        "Sequences the archive log's pending leaves and signs the tree as a checkpoint (a C2SP "
        "signed note); prints it, or writes it to --output. --publish also writes it to "
        "GROUPIE_CHECKPOINT_STORE (the scheduled job's run). --public-key prints the verifier "
        "key auditors need (name+keyid+base64key)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="Write the checkpoint to this new file.")
        parser.add_argument(
            "--publish", action="store_true", help="Publish it to GROUPIE_CHECKPOINT_STORE."
        )
        parser.add_argument(
            "--public-key", action="store_true", help="Print the verifier key and stop."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["public_key"]:
                self.stdout.write(checkpoints.verifier_key())
                return
            output: Path | None = options["output"]
            if output is not None and output.exists():
                raise CommandError(f"{output} exists: checkpoint never overwrites a file")
            result = do_checkpoint(publish=options["publish"])
        except (CryptoError, StoreError) as exc:
            raise CommandError(f"checkpoint failed: {type(exc).__name__}: {exc}") from None
        text = result.checkpoint.note
        if output is not None:
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            self.stdout.write(text, ending="")
        published = f", published as {result.published_as}" if result.published_as else ""
        self.stderr.write(
            f"checkpoint: {result.checkpoint.size} leaves ({result.sequenced} sequenced now)"
            f"{published}"
        )
