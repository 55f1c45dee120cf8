"""Is the database migrated? One answer for every command, /readyz, and the store's errors.

``DATABASE_URL`` can point at a database that has never been migrated (a new PostgreSQL
database, another SQLite file), or at one a release's migration has not reached. Without this
check each part fails its own way: a command prints "the archive is unavailable ... run again"
(which never helps) or a driver's ``OperationalError``, readiness says ``OperationalError``,
the webhook logs a ``StoreError``. Here the database is compared with the migration files once,
and the answer names the database and the command that fixes it.

A database found up to date is remembered for the life of the process (migrations are not
undone under a running server), so the check costs one look at ``django_migrations`` per
process. One found behind is looked at again next time: someone may be migrating it now.
"""

from __future__ import annotations

import threading

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

FIX = "run `make manage CMD=migrate` in a checkout, `python manage.py migrate` elsewhere"

_up_to_date: set[tuple[object, ...]] = set()
_lock = threading.Lock()


class NotMigrated(Exception):
    """The database lacks migrations. The message names the database (never its credentials)
    and the command that fixes it: it is what the operator has to do, so it may be logged and
    printed. ``public`` leaves the database out, for answers anyone may read (/readyz)."""

    def __init__(self, database: str, count: int) -> None:
        self.database, self.count = database, count
        super().__init__(f"{database} {self._state()}")

    def _state(self) -> str:
        plural = "s" * (self.count != 1)
        return f"is not migrated ({self.count} migration{plural} to apply): {FIX}"

    @property
    def public(self) -> str:
        return f"the database {self._state()}"


def describe(alias: str = DEFAULT_DB_ALIAS) -> str:
    """'the SQLite database var/db.sqlite3', 'the PostgreSQL database groupie on db:5432'."""
    connection = connections[alias]
    params = connection.settings_dict
    vendor = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(
        connection.vendor, connection.vendor
    )
    where = ""
    if params.get("HOST"):
        where = f" on {params['HOST']}" + (f":{params['PORT']}" if params.get("PORT") else "")
    return f"the {vendor} database {params.get('NAME')}{where}"


def require_migrated(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Returns if every migration is applied to the database; raises NotMigrated if not, and
    the driver's DatabaseError if the database cannot be reached at all."""
    params = connections[alias].settings_dict
    key = (alias, params.get("ENGINE"), str(params.get("NAME")), params.get("HOST"))
    if key in _up_to_date:
        return
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise NotMigrated(describe(alias), len(plan))
    with _lock:
        _up_to_date.add(key)


def migration_problem(alias: str = DEFAULT_DB_ALIAS) -> NotMigrated | None:
    """After a database error: NotMigrated if that is the reason, else None (including when
    the database cannot be asked, e.g. inside a transaction the error has aborted)."""
    try:
        require_migrated(alias)
    except NotMigrated as exc:
        return exc
    except DatabaseError:
        return None
    return None
