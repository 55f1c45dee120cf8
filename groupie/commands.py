"""What the management commands of every app share (a neutral home, not a domain package).

``ArchiveCommand`` is the base of every command that reads or writes the archive's database.
Before ``handle()`` runs, it checks that the database is migrated, through Django's own hook
for that (``requires_migrations_checks``, which on its own only prints a notice and goes on).
A database that is not migrated stops the command at once with one line naming it and the
command that fixes it, exit status 1, nothing read or written. Django's commands (migrate,
makemigrations, showmigrations, check, ...) are not ours and are never stopped.

Commands that never touch the database (set_webhook, init_keyring, ...) stay on
``BaseCommand``; ``tests/groupie/test_unmigrated_database.py`` names them, so a new command has to
choose.

``counted`` is how their summary lines count things.
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


def counted(count: int, noun: str, plural: str = "") -> str:
    """ "1 chat", "2 chats", "1,234 chats"; ``plural`` for a noun that is not just + "s"
    ("1 chat index", "2 chat indexes")."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
