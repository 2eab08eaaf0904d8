"""PostgreSQL: ``pg_locks`` of the migrating backend, relfilenode per table.

The observer samples the relation locks granted to the backend that runs the
migrations; a table whose ``relfilenode`` changed across a migration was
rewritten (``ALTER COLUMN TYPE``, a default before PostgreSQL 11, ``VACUUM
FULL``...). SHARE and stronger block writes.
"""

from __future__ import annotations

from typing import Any

from migration_guard.gates.lockwatch.base import Held, LockWatch

#: PostgreSQL's table lock modes, weakest first (the "Table-Level Lock Modes")
MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
BLOCKING = frozenset(MODES[MODES.index("ShareLock") :])

LOCKS_SQL = """
SELECT c.relname, l.mode
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = %s AND l.granted AND l.locktype = 'relation'
  AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
"""
FILES_SQL = """
SELECT c.relname, c.relfilenode FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = ANY(current_schemas(false))
"""


def strongest(modes: set[str]) -> str:
    return max(modes, key=MODES.index)


class PostgresLockWatch(LockWatch):
    method = "pg_locks sampled from a second connection"

    def session_id(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    def files(self) -> dict[str, Any]:
        with self.connection.cursor() as cursor:
            cursor.execute(FILES_SQL)
            return {str(name): int(node) for name, node in cursor.fetchall()}

    def held(self, cursor: Any) -> Held:
        cursor.execute(LOCKS_SQL, [self.session])
        return [(str(table), str(mode)) for table, mode in cursor.fetchall()]

    def rank(self, mode: str) -> int:
        return MODES.index(mode)

    def blocking(self, mode: str) -> bool:
        return mode in BLOCKING
