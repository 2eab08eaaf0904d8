"""SQLite: one write lock for the whole database, root pages per table.

SQLite has no table locks to sample: a write transaction locks the whole
database against other writers (RESERVED from its first write, EXCLUSIVE
while it commits), and no other connection can see who holds it. So each
migration counts as holding the database's write lock from its start to its
commit (an upper bound: the lock is taken at the first write), and it
blocks writes. Django's SQLite schema editor rebuilds a table for most
changes (a new table, the rows copied, the old one dropped): its
``rootpage`` in ``sqlite_master`` changes, so it was rewritten.
"""

from __future__ import annotations

import time
from typing import Any

from migration_guard.gates.lockwatch.base import LockWatch, MigrationLocks, TableLock

#: the lock's "table" and mode in the report
DATABASE = "the whole database"
MODE = "write lock"
FILES_SQL = "SELECT name, rootpage FROM sqlite_master WHERE type = 'table'"


class SqliteLockWatch(LockWatch):
    method = "SQLite locks the whole database: each migration's time"
    caveat = (
        "SQLite locks the whole database: each migration counts as holding its "
        "write lock from its start to its commit"
    )

    def __enter__(self) -> LockWatch:
        return self  # nothing to sample: started/finished measure the lock

    def __exit__(self, *exc: Any) -> None:
        pass

    def files(self) -> dict[str, Any]:
        with self.connection.cursor() as cursor:
            cursor.execute(FILES_SQL)
            return {str(name): int(page) for name, page in cursor.fetchall()}

    def started(self, label: str) -> None:
        super().started(label)
        if self.current is not None:
            self.current.tables[DATABASE] = TableLock(
                DATABASE, MODE, time.monotonic(), rank=1, blocking=True
            )

    def finished(self) -> None:
        current: MigrationLocks | None = self.current
        super().finished()  # closes the lock: its end is the commit
        if current is not None:
            current.samples = 1
