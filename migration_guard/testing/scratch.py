"""A scratch database on the same server as an alias, for round trips and rehearsals.

:func:`scratch_database` creates an empty database next to the one behind an
alias and registers it as a temporary extra alias in ``django.db.connections``
(a connection of this thread, not a ``DATABASES`` entry; the real alias is
never re-pointed). PostgreSQL and MySQL/MariaDB get the test
database name, as Django's test runner names it (``TEST["NAME"]``, else
``test_`` + ``NAME``); an existing database of that name is refused, never
clobbered. SQLite gets a temporary file. The database is dropped and the alias
removed when the ``with`` block ends, also on an exception, Ctrl-C or SIGTERM
(a handler that raises is installed for the block, the previous one restored).

While the block runs, :func:`routed_to` makes the router send queries that
would go to the real alias to the scratch alias, and answer ``allow_migrate``
for the scratch alias as for the real one: a ``RunPython`` that forgets
``.using(schema_editor.connection.alias)`` then touches the scratch database,
as it would touch the test database under Django's test runner, not the real
one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.utils import load_backend
from django.utils.connection import ConnectionDoesNotExist

from migration_guard import vendors
from migration_guard.compat.backends import nodb_cursor, runner_database_name
from migration_guard.exceptions import UsageError
from migration_guard.run.planning import check_alias

SUFFIX = "__migration_guard_scratch"


@dataclass(frozen=True)
class Scratch:
    """A scratch database, usable as ``connections[alias]`` while it lives."""

    alias: str
    #: the alias whose server it lives on
    source: str
    vendor: str
    name: str

    @property
    def connection(self) -> Any:
        return connections[self.alias]

    def describe(self) -> str:
        if self.vendor == "sqlite":
            return f"temporary SQLite file {self.name}"
        return f"{self.vendor} database '{self.name}'"


def scratch_name(alias: str) -> str:
    """The name the scratch database of ``alias`` gets (SQLite: chosen later)."""
    connection = connections[alias]
    return runner_database_name(connection)


def _sqlite_remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", ".migration-guard-lock"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def _mysql_suffix(source: Any) -> str:
    """The charset and collation of the new database.

    ``TEST["CHARSET"]``/``TEST["COLLATION"]`` when set (as the test runner
    does), else those of the real database, so that tables created without
    an explicit charset get the same one as in production.
    """
    suffix = source.creation.sql_table_creation_suffix()
    if suffix:
        return str(suffix)
    with source.cursor() as cursor:
        cursor.execute(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            [source.settings_dict["NAME"]],
        )
        row = cursor.fetchone()
    return f"CHARACTER SET {row[0]} COLLATE {row[1]}" if row else ""


def _exists(source: Any, name: str) -> bool:
    with nodb_cursor(source) as cursor:
        if source.vendor == "postgresql":
            cursor.execute(
                "SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", [name]
            )
        else:
            cursor.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                [name],
            )
        return cursor.fetchone() is not None


def _refuse_existing(source: Any, name: str, alias: str) -> None:
    if _exists(source, name):
        raise UsageError(
            f"Database '{name}' already exists on the server of database "
            f"'{alias}'. migration_guard uses that name (the test database name, "
            "TEST['NAME'] or test_ + NAME) for its scratch database and never "
            "overwrites one: another round trip, rehearsal or test run may be "
            f"using it. Drop it if it is a leftover, or set "
            f"DATABASES['{alias}']['TEST']['NAME'] to another name."
        )


def _create(source: Any, name: str, alias: str) -> None:
    if source.vendor == "postgresql":
        suffix = source.creation.sql_table_creation_suffix()
    else:
        suffix = _mysql_suffix(source)
    quoted = source.ops.quote_name(name)
    try:
        with nodb_cursor(source) as cursor:
            cursor.execute(f"CREATE DATABASE {quoted} {suffix}".rstrip())
    except DatabaseError as exc:
        raise UsageError(
            f"Could not create the scratch database '{name}' on the server of "
            f"database '{alias}': {str(exc).strip()}. The user needs the "
            "privilege to create databases (as for Django's test runner)."
        ) from exc


def _drop(source: Any, name: str) -> None:
    quoted = source.ops.quote_name(name)
    force = " WITH (FORCE)" if source.vendor == "postgresql" else ""
    with nodb_cursor(source) as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quoted}{force}")


class _Interrupted(SystemExit):
    """SIGTERM during a scratch block: unwinds so that ``finally`` drops it."""


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, SIGTERM SystemExit(143), during the block.

    Only the main thread can set handlers; elsewhere the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Interrupted(128 + signum)

    previous = {
        signum: signal.signal(signum, on_signal)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _register(alias: str, settings_dict: dict[str, Any]) -> None:
    """``connections[alias]`` for this thread, without a DATABASES entry.

    Outside ``settings.DATABASES`` it counts as a dynamically created
    connection: Django's test cases, which refuse connections to aliases
    they were not told about, allow it, and ``connections.all()`` (which
    request handling closes) leaves it alone.
    """
    backend = load_backend(settings_dict["ENGINE"])
    connections[alias] = backend.DatabaseWrapper(settings_dict, alias)


def _unregister(alias: str) -> None:
    with contextlib.suppress(ConnectionDoesNotExist):
        connection = connections[alias]
        with contextlib.suppress(Exception):
            connection.close()
        del connections[alias]


@contextlib.contextmanager
def scratch_database(alias: str, *, purpose: str = "scratch") -> Iterator[Scratch]:
    """An empty database on ``alias``'s server, as a temporary extra alias.

    Raises UsageError when the database cannot be created or its name is
    taken. Dropped in ``finally``, also on KeyboardInterrupt and SIGTERM.
    """
    check_alias(alias)
    source = connections[alias]
    vendor = source.vendor
    in_a_file = (
        vendors.for_connection(source, doing="make a scratch database of").scratch
        == "file"
    )
    scratch_alias = f"{alias}{SUFFIX}"
    if _in_use(scratch_alias):
        raise UsageError(
            f"A scratch database of '{alias}' is already in use in this process."
        )
    settings_dict = dict(source.settings_dict)
    settings_dict["TEST"] = dict(settings_dict.get("TEST") or {})
    with _signals_raise():
        created = False
        if in_a_file:
            fd, name = tempfile.mkstemp(
                prefix=f"migration-guard-{purpose}-", suffix=".sqlite3"
            )
            os.close(fd)  # an empty file is an empty SQLite database
            created = True
        else:
            name = scratch_name(alias)
        settings_dict["NAME"] = name
        try:
            if not in_a_file:
                _refuse_existing(source, name, alias)
                created = True  # from here on, ``finally`` drops it
                try:
                    _create(source, name, alias)
                except UsageError:
                    created = False
                    raise
            _register(scratch_alias, settings_dict)
            with routed_to(alias, scratch_alias):
                yield Scratch(scratch_alias, alias, vendor, name)
        finally:
            _unregister(scratch_alias)
            if created:
                if in_a_file:
                    _sqlite_remove(name)
                else:
                    _drop(source, name)


def _in_use(alias: str) -> bool:
    try:
        connections[alias]
    except ConnectionDoesNotExist:
        return False
    return True


_ROUTED = ("db_for_read", "db_for_write", "allow_migrate", "allow_migrate_model")


@contextlib.contextmanager
def routed_to(real: str, scratch: str) -> Iterator[None]:
    """Send what goes to ``real`` to ``scratch``; migrate ``scratch`` as ``real``."""
    saved = {name: router.__dict__.get(name) for name in _ROUTED}
    db_for_read = router.db_for_read
    db_for_write = router.db_for_write
    allow_migrate = router.allow_migrate
    allow_migrate_model = router.allow_migrate_model

    def read(model: Any, **hints: Any) -> str:
        found = db_for_read(model, **hints)
        return scratch if found == real else found

    def write(model: Any, **hints: Any) -> str:
        found = db_for_write(model, **hints)
        return scratch if found == real else found

    def migrate(db: str, app_label: str, **hints: Any) -> bool:
        return bool(allow_migrate(real if db == scratch else db, app_label, **hints))

    def migrate_model(db: str, model: Any) -> bool:
        return bool(allow_migrate_model(real if db == scratch else db, model))

    router.db_for_read = read  # type: ignore[method-assign]
    router.db_for_write = write  # type: ignore[method-assign]
    router.allow_migrate = migrate  # type: ignore[method-assign]
    router.allow_migrate_model = migrate_model  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                router.__dict__.pop(name, None)
            else:
                router.__dict__[name] = value
