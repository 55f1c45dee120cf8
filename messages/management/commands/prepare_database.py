"""manage.py prepare_database --admin-password-file FILE: what `make setup` and `make run` do to
whatever database DATABASE_URL names, every time, since no file in the checkout can tell
whether that database has been seen before.

It migrates the database (quick when there is nothing to apply) and makes sure it has the
``admin`` superuser with the password in FILE, so that the password `make run` prints logs in
to the database being served. An ``admin`` who already exists keeps their password: if it is
not FILE's, this says so (and ``--admin-line`` says so in the banner) rather than change it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from groupie.schema import describe

USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "For make: migrate the database DATABASE_URL names and make sure it has the admin "
        "superuser with the password in --admin-password-file (an existing admin keeps theirs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-password-file",
            type=Path,
            required=True,
            help="The admin's password for a new admin user (make uses var/admin_password).",
        )
        parser.add_argument(
            "--admin-line",
            action="store_true",
            help="Print only how to log in as admin (for make run's banner); notes go to stderr.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["admin_password_file"]
        try:
            password = path.read_text().strip()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        if not password:
            raise CommandError(f"{path} is empty: delete it and run make setup again")
        call_command("migrate", interactive=False, verbosity=0)
        line, works = ensure_admin(password, str(path), say=self.stderr.write)
        if options["admin_line"]:
            self.stdout.write(line)
        elif not works:
            self.stdout.write(f"Note: {line}.")


def ensure_admin(password: str, source: str, *, say: Callable[[str], object]) -> tuple[str, bool]:
    """Creates the admin superuser with ``password`` if the database has no admin (and
    ``say``s so). Returns how to log in as admin there, honestly, and whether ``password``
    does."""
    users = get_user_model()
    user = users.objects.filter(username=USERNAME).first()
    works = f"user {USERNAME}, password {password}"
    if user is None:
        users.objects.create_superuser(USERNAME, "admin@localhost", password)
        say(f"Created the user {USERNAME} in {describe()}, with the password in {source}.")
        return works, True
    problems = []
    if not user.check_password(password):
        problems.append(
            f'its password there is not the one in {source} (make manage CMD="changepassword '
            f'{USERNAME}" sets one)'
        )
    if not (user.is_active and user.is_superuser):
        problems.append("it is not an active superuser there")
    if not problems:
        return works, True
    return f"user {USERNAME} of {describe()}: {'; '.join(problems)}", False
