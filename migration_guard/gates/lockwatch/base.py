"""What a rehearsal's lock watch records, and the sampling every backend shares.

A :class:`LockWatch` is told when each migration of the plan starts and is
committed (:meth:`LockWatch.started`, :meth:`LockWatch.finished`). Around
them it reads each table's *file* (a backend's notion of the table's storage:
PostgreSQL's relfilenode, InnoDB's table id, SQLite's root page): a table
whose file changed was rewritten. In between, a thread with a connection of
its own samples the locks the migrating session holds (every
:data:`INTERVAL` seconds); a backend whose locks cannot be sampled records
them itself (SQLite).

A lock is *blocking* when it makes ordinary writes to its table wait;
``--max-lock-ms`` is a budget for how long each blocking lock is held.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

INTERVAL = 0.005

#: a sample: (table, mode) pairs the migrating session holds
Held = list[tuple[str, str]]


@dataclass
class TableLock:
    table: str
    mode: str
    first_seen: float
    #: the mode's strength among the backend's modes (higher is stronger)
    rank: int = 0
    blocking: bool = False
    until: float | None = None

    @property
    def ms(self) -> float:
        return round(((self.until or self.first_seen) - self.first_seen) * 1000, 1)

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
        return max(self.tables.values(), key=lambda lock: lock.rank).mode

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


def rewritten(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The tables of ``before`` still there ``after`` whose file changed."""
    return sorted(
        table
        for table, file in before.items()
        if table in after and after[table] != file
    )


class LockWatch:
    """Records the locks of ``connection``'s session, one migration at a time.

    Subclasses say how the session is identified (:meth:`session_id`), what
    it holds (:meth:`held`, run on the observer's cursor), how strong and
    blocking each mode is, and what a table's file is (:meth:`files`).
    """

    #: how the locks are measured, for the report's heading
    method = ""
    #: what the measure cannot tell, for the JSON's ``locks_note``
    caveat = ""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.migrations: list[MigrationLocks] = []
        self.current: MigrationLocks | None = None
        self.error = ""
        self.session = 0
        self._files: dict[str, Any] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- what each backend says -------------------------------------------------

    def session_id(self) -> int:
        raise NotImplementedError

    def files(self) -> dict[str, Any]:
        raise NotImplementedError

    def held(self, cursor: Any) -> Held:
        raise NotImplementedError

    def rank(self, mode: str) -> int:
        raise NotImplementedError

    def blocking(self, mode: str) -> bool:
        raise NotImplementedError

    # -- the migration side (the executor's thread) --------------------------

    def __enter__(self) -> LockWatch:
        self.session = self.session_id()
        self._thread = threading.Thread(
            target=self._sample, name="migration-guard-lockwatch", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def started(self, label: str) -> None:
        self._files = self.files()
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
        done.rewritten = rewritten(self._files, self.files())

    # -- the sampling thread --------------------------------------------------

    def _sample(self) -> None:
        # a connection of its own, made in this thread (Django's are per thread)
        observer = type(self.connection)(
            dict(self.connection.settings_dict), alias=f"{self.connection.alias}_locks"
        )
        try:
            with observer.cursor() as cursor:
                while not self._stop.is_set():
                    held = self.held(cursor)
                    self.note(held, time.monotonic())
                    self._stop.wait(INTERVAL)
        except Exception as exc:  # reported with the result, never raised
            self.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        finally:
            observer.close()

    def note(self, held: Held, now: float) -> None:
        """One sample: the strongest mode per table, locks opened and closed."""
        strongest: dict[str, str] = {}
        for table, mode in held:
            known = strongest.get(table)
            if known is None or self.rank(mode) > self.rank(known):
                strongest[table] = mode
        with self._lock:
            current = self.current
            if current is None:
                return
            current.samples += 1
            for table, mode in strongest.items():
                lock = current.tables.get(table)
                if lock is None or self.rank(mode) > lock.rank:
                    current.tables[table] = TableLock(
                        table, mode, now, self.rank(mode), self.blocking(mode)
                    )
                elif lock.until is not None:  # taken again
                    lock.until = None
            for table, lock in current.tables.items():
                if table not in strongest and lock.until is None:
                    lock.until = now

    def over_budget(self, max_ms: float) -> list[tuple[str, TableLock]]:
        """Blocking locks held longer than ``max_ms``: (migration, lock)."""
        return [
            (m.label, lock)
            for m in self.migrations
            for lock in sorted(m.tables.values(), key=lambda lock: lock.table)
            if lock.blocking and lock.ms > max_ms
        ]
