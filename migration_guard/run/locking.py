"""One migration run per database at a time.

PostgreSQL takes a session-level ``pg_advisory_lock``, MySQL/MariaDB
``GET_LOCK``, SQLite an exclusive ``flock`` on a lock file beside the database
file. The lock is held on a dedicated connection (or file descriptor), so
nothing a migration does to the migrating connection can release it early.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard import vendors
from migration_guard.exceptions import LockTimeout, UsageError

if TYPE_CHECKING:  # the sqlite3 backend is not imported on other databases
    from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 0.5


def lock_name(connection: BaseDatabaseWrapper) -> str:
    """A stable name for the lock of the database behind ``connection``."""
    name = str(connection.settings_dict.get("NAME") or "")
    return "migration_guard:" + hashlib.sha256(name.encode()).hexdigest()[:40]


def _pg_key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _timeout_error(alias: str, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"Could not take the migration lock of database '{alias}' within "
        f"{timeout:g}s: another guardedmigrate run is in progress{holder}. "
        "Wait for it to finish (see 'manage.py migrationhistory'), or raise "
        "--lock-timeout."
    )


def _poll(acquire: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    interval = POLL_INTERVAL
    while True:
        if acquire():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, MAX_POLL_INTERVAL)


@contextlib.contextmanager
def _database_lock(alias: str, timeout: float) -> Iterator[None]:
    connection = connections.create_connection(alias)
    name = lock_name(connection)
    try:
        with connection.cursor() as cursor:
            if vendors.get(connection.vendor).lock == "advisory":
                key = _pg_key(name)

                def acquire() -> bool:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                    return bool(cursor.fetchone()[0])

                def release() -> None:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])

                got = _poll(acquire, timeout)
            else:  # mysql: GET_LOCK waits server-side and wakes up on release
                cursor.execute("SELECT GET_LOCK(%s, %s)", (name, timeout))
                got = cursor.fetchone()[0] == 1

                def release() -> None:
                    cursor.execute("SELECT RELEASE_LOCK(%s)", [name])

            if not got:
                raise _timeout_error(alias, timeout, "")
            try:
                yield
            finally:
                release()
    finally:
        connection.close()


def sqlite_lock_path(connection: BaseDatabaseWrapper) -> Path | None:
    """The lock file beside a SQLite database file, None for in-memory ones."""
    if cast("SQLiteWrapper", connection).is_in_memory_db():
        return None
    return Path(f"{connection.settings_dict['NAME']}.migration-guard-lock")


@contextlib.contextmanager
def _file_lock(alias: str, path: Path, timeout: float) -> Iterator[None]:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(
            f"Cannot open the lock file {path} of database '{alias}': "
            f"{exc.strerror}. Make the directory of the database writable."
        ) from exc
    try:

        def acquire() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not _poll(acquire, timeout):
            raise _timeout_error(alias, timeout, f" (lock file {path})")
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def migration_lock(alias: str, timeout: float) -> Iterator[None]:
    """Hold the migration lock of database ``alias``; raise LockTimeout (exit 3)."""
    connection = connections[alias]
    if vendors.for_connection(connection, doing="lock").lock != "file":
        with _database_lock(alias, timeout):
            yield
    else:
        path = sqlite_lock_path(connection)
        if path is None:  # one process owns an in-memory database
            yield
        else:
            with _file_lock(alias, path, timeout):
                yield
