"""The base of every management command that reads or writes the archive's database.

Before ``handle()`` runs, it checks that the database is migrated, through Django's own hook
for that (``requires_migrations_checks``, which on its own only prints a notice and goes on).
A database that is not migrated stops the command at once with one line naming it and the
command that fixes it, exit status 1, nothing read or written. Django's commands (migrate,
makemigrations, showmigrations, check, ...) are not ours and are never stopped.

Commands that never touch the database (set_webhook, init_keyring, ...) stay on
``BaseCommand``; ``tests/test_unmigrated_database.py`` names them, so a new command has to
choose.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from groupie.schema import NotMigrated, describe, require_migrated


class ArchiveCommand(BaseCommand):
    requires_migrations_checks = True

    def check_migrations(self) -> None:
        try:
            require_migrated()
        except NotMigrated as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            # The driver's text names the host and the reason (no password: Django never
            # puts it in a message); the first line is enough.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CommandError(f"{describe()} cannot be reached: {reason}") from None
