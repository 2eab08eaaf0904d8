"""Locks a rehearsal takes, per migration, on each backend.

:func:`watcher_for` gives the :class:`~.base.LockWatch` of a connection's
backend: PostgreSQL samples ``pg_locks`` (:mod:`.postgresql`), MariaDB its
metadata locks or, without the plugin, the DDL statements running
(:mod:`.mysql`), SQLite reports the database-wide write lock of each
migration (:mod:`.sqlite`). Each also says which tables a migration rewrote.
"""

from __future__ import annotations

from typing import Any

from migration_guard.gates.lockwatch.base import LockWatch, MigrationLocks, TableLock

__all__ = ["LockWatch", "MigrationLocks", "TableLock", "watcher_for"]


def watcher_for(connection: Any) -> LockWatch | None:
    """The lock watch for ``connection``'s backend; None for an unknown one."""
    if connection.vendor == "postgresql":
        from migration_guard.gates.lockwatch.postgresql import PostgresLockWatch

        return PostgresLockWatch(connection)
    if connection.vendor == "mysql":
        from migration_guard.gates.lockwatch.mysql import MysqlLockWatch

        return MysqlLockWatch(connection)
    if connection.vendor == "sqlite":
        from migration_guard.gates.lockwatch.sqlite import SqliteLockWatch

        return SqliteLockWatch(connection)
    return None
