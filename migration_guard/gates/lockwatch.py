"""Locks a rehearsal takes, per migration (PostgreSQL).

While the plan runs on the rehearsal's copy, a second connection samples
``pg_locks`` for the backend running the migrations (every
:data:`INTERVAL` seconds, in a thread of its own): which tables it holds
locks on, in which mode, from when until when. Around each migration the
``relfilenode`` of every table is read, before it starts and after it is
committed: a table whose file changed was rewritten (``ALTER COLUMN TYPE``, a
default before PostgreSQL 11, ``VACUUM FULL``...).

A lock is *blocking* when it makes ordinary writes wait: SHARE and stronger
(SHARE, SHARE ROW EXCLUSIVE, EXCLUSIVE, ACCESS EXCLUSIVE); ``--max-lock-ms``
is a budget for how long each one is held. Other backends are not sampled:
MySQL/MariaDB metadata locks need ``performance_schema``, SQLite locks the
whole file.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

INTERVAL = 0.005

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


@dataclass
class TableLock:
    table: str
    mode: str
    first_seen: float
    until: float | None = None

    @property
    def ms(self) -> float:
        return round(((self.until or self.first_seen) - self.first_seen) * 1000, 1)

    @property
    def blocking(self) -> bool:
        return self.mode in BLOCKING

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "mode": self.mode,
            "ms": self.ms,
            "blocking": self.blocking,
        }


@dataclass
class MigrationLocks:
    label: str
    tables: dict[str, TableLock] = field(default_factory=dict)
    rewritten: list[str] = field(default_factory=list)
    samples: int = 0

    @property
    def strongest(self) -> str | None:
        if not self.tables:
            return None
        return strongest({lock.mode for lock in self.tables.values()})

    def describe(self) -> str:
        mode = self.strongest
        if mode is None:
            text = f"{self.label}: no table lock seen"
        else:
            held = sorted(
                (lock for lock in self.tables.values() if lock.mode == mode),
                key=lambda lock: lock.table,
            )
            text = f"{self.label}: {mode} on " + ", ".join(
                f"{lock.table} ({lock.ms:.0f} ms)" for lock in held
            )
        if self.rewritten:
            text += "; rewrote " + ", ".join(self.rewritten)
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "migration": self.label,
            "strongest": self.strongest,
            "tables": [
                lock.as_json()
                for lock in sorted(self.tables.values(), key=lambda lock: lock.table)
            ],
            "rewritten": self.rewritten,
            "samples": self.samples,
        }


class LockWatch:
    """Samples the locks of ``connection``'s backend from a second connection."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.migrations: list[MigrationLocks] = []
        self.current: MigrationLocks | None = None
        self._files: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.error = ""

    # -- the migration side (the executor's thread) --------------------------

    def __enter__(self) -> LockWatch:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._pid = int(cursor.fetchone()[0])
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def started(self, label: str) -> None:
        self._files = self._relfilenodes()
        with self._lock:
            self.current = MigrationLocks(label)
            self.migrations.append(self.current)

    def finished(self) -> None:
        now = time.monotonic()
        with self._lock:
            done, self.current = self.current, None
        if done is None:
            return
        for lock in done.tables.values():
            if lock.until is None:
                lock.until = now
        after = self._relfilenodes()
        done.rewritten = sorted(
            table
            for table, node in self._files.items()
            if table in after and after[table] != node
        )

    def _relfilenodes(self) -> dict[str, int]:
        with self.connection.cursor() as cursor:
            cursor.execute(FILES_SQL)
            return {str(name): int(node) for name, node in cursor.fetchall()}

    # -- the sampling thread --------------------------------------------------

    def _sample(self) -> None:
        # a connection of its own, made in this thread (Django's are per thread)
        observer = type(self.connection)(
            dict(self.connection.settings_dict), alias=f"{self.connection.alias}_locks"
        )
        try:
            with observer.cursor() as cursor:
                while not self._stop.is_set():
                    cursor.execute(LOCKS_SQL, [self._pid])
                    rows = cursor.fetchall()
                    self._note(rows, time.monotonic())
                    self._stop.wait(INTERVAL)
        except Exception as exc:  # reported with the result, never raised
            self.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        finally:
            observer.close()

    def _note(self, rows: list[tuple[str, str]], now: float) -> None:
        held: dict[str, set[str]] = {}
        for table, mode in rows:
            held.setdefault(str(table), set()).add(str(mode))
        with self._lock:
            current = self.current
            if current is None:
                return
            current.samples += 1
            for table, modes in held.items():
                mode = strongest(modes)
                lock = current.tables.get(table)
                if lock is None or MODES.index(mode) > MODES.index(lock.mode):
                    current.tables[table] = TableLock(table, mode, now)
                elif lock.until is not None:  # taken again
                    lock.until = None
            for table, lock in current.tables.items():
                if table not in held and lock.until is None:
                    lock.until = now

    def over_budget(self, max_ms: float) -> list[tuple[str, TableLock]]:
        """Blocking locks held longer than ``max_ms``: (migration, lock)."""
        return [
            (m.label, lock)
            for m in self.migrations
            for lock in sorted(m.tables.values(), key=lambda lock: lock.table)
            if lock.blocking and lock.ms > max_ms
        ]
