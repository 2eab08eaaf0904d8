"""Constraint reads of the live schema, answered ahead by a second session.

Collecting a plan's backward SQL, the schema editor asks the live database
for the constraints of the tables it alters (``_constraint_names``): on
MariaDB each ``get_constraints`` costs about 7 ms of the server's time
(``information_schema`` joins), and the preview waits for each. Nothing is
executed while the SQL is collected, so the answers do not depend on when
they are asked: a thread with a session of its own asks, in the order the
walk will need them, for the tables the plan's operations name, while the
preview renders its states on the other core.

The answers are Django's own (the thread calls the backend's
``get_constraints``), over a connection made from the preview's own
settings, so it reads the same database. A read is only taken from the
thread when its session sees what the preview's sees: not when the
preview's connection is inside a transaction (its uncommitted changes are
not the thread's), nor on SQLite (an in-memory database is the
connection's own). A table the thread has not started is read by the
preview itself; a read that failed in the thread is read again by the
preview, so that a failure is the schema editor's own. Nor is a read taken
from a session that names tables otherwise than the preview's (:data:`SCOPE`:
a schema-per-tenant project sets ``search_path`` on its connection, the new
session has the default one): the thread compares before it reads.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from django.apps import apps
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import operations as ops
from django.db.migrations.migration import Migration

from migration_guard.unwrap import database_side

#: the vendors whose second session sees the schema the first one sees
VENDORS = ("mysql", "postgresql")

#: seconds the preview's thread may hold the interpreter while the reading
#: thread waits for it (Python's default: 5 ms). Each ``get_constraints`` is
#: several queries, and after each the reading thread waits for the
#: interpreter: at 5 ms it falls behind the preview it should be ahead of
#: (on the corpus, MariaDB: 0.14 s of the preview's 0.21 s of reads were
#: still waited for; at 0.2 ms, 0.04 s). Set while the thread runs, then
#: restored.
SWITCH_INTERVAL = 0.0002

#: per vendor, what decides which table a name is in a session (the
#: database, the user, PostgreSQL's schema path, resolved, with the session's
#: temporary schema if it has one): the thread reads nothing unless its
#: session answers as the preview's
SCOPE = {
    "postgresql": (
        "SELECT current_database(), current_user, current_schemas(true)::text"
    ),
    "mysql": "SELECT DATABASE(), CURRENT_USER()",
}

#: the switch interval the program had before the first of the running
#: prefetches set it, and how many run: previews may overlap (threads of a
#: program), and the last one to close gives the program's interval back
_interval_lock = threading.Lock()
_interval_users = 0
_interval_saved = 0.0


def _lower_interval() -> None:
    global _interval_users, _interval_saved
    with _interval_lock:
        if _interval_users == 0:
            _interval_saved = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        _interval_users += 1


def _restore_interval() -> None:
    global _interval_users
    with _interval_lock:
        _interval_users -= 1
        if _interval_users == 0:
            sys.setswitchinterval(_interval_saved)


def own_session(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` for a session of the thread's own, outside the alias's
    connection pool (``OPTIONS["pool"]``, PostgreSQL, Django 5.1+): the pool
    is the program's budget of sessions, and a pool of one, held by the
    preview's connection, kept the thread waiting for the pool's timeout
    (and the preview ``WAIT`` seconds for the thread)."""
    options = settings.get("OPTIONS") or {}
    if "pool" not in options:
        return settings
    return {
        **settings,
        "OPTIONS": {key: value for key, value in options.items() if key != "pool"},
    }


def scope(connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
    """What :data:`SCOPE` says of ``connection``'s session."""
    with connection.cursor() as cursor:
        cursor.execute(SCOPE[connection.vendor])
        return tuple(cursor.fetchone() or ())


#: seconds the preview waits for the thread's read of a table, and for the
#: thread to stop, before it reads the table itself and leaves the thread
#: (a daemon) behind: a session stuck behind a lock must not hang a preview
#: that can read the table on its own session
WAIT = 10.0


def shared_schema(connection: BaseDatabaseWrapper) -> bool:
    """Whether a second session of ``connection``'s database sees its schema."""
    return (
        connection.vendor in VENDORS
        and not connection.in_atomic_block
        and connection.get_autocommit()
    )


def named_tables(migrations: Iterable[Migration]) -> list[tuple[int, str]]:
    """The tables of the models ``migrations``' operations name, in order,
    each with the index of the first migration naming it.

    A model of the project's code gives its ``db_table`` and those of its
    automatic many-to-many tables (and, for an altered primary key, those of
    the models pointing at it: their foreign keys are rewritten); a model it
    no longer has, Django's default name. ``CreateModel`` and
    ``DeleteModel`` are left out: dropping or creating a table reads
    nothing. A guess: a table it misses is read when it is asked for, one it
    names in vain costs the thread a read.
    """
    found: dict[str, int] = {}
    for index, migration in enumerate(migrations):
        for operation in database_side(migration.operations):
            if isinstance(operation, ops.CreateModel | ops.DeleteModel):
                continue
            name = getattr(operation, "model_name_lower", None) or getattr(
                operation, "name_lower", None
            )
            if not isinstance(name, str):
                continue
            key = isinstance(operation, ops.AlterField) and operation.field.primary_key
            for table in _tables(migration.app_label, name, referrers=key):
                found.setdefault(table, index)
    return [(index, table) for table, index in found.items()]


def _tables(app_label: str, model_name: str, *, referrers: bool) -> list[str]:
    model = apps.all_models.get(app_label, {}).get(model_name)
    if model is None:
        return [f"{app_label}_{model_name}"]
    meta = model._meta
    tables = [meta.db_table]
    for field in meta.local_many_to_many:
        through = field.remote_field.through
        if isinstance(through, type) and through._meta.auto_created:
            tables.append(through._meta.db_table)
    if referrers:
        tables += [rel.related_model._meta.db_table for rel in meta.related_objects]
    return tables


class ConstraintPrefetch:
    """A thread reading ``get_constraints`` of ``tables`` on its own session.

    ``tables``: ``(index, table)`` pairs, :func:`named_tables`. ``reached(
    index)``: the preview is at that migration; the tables first named
    before it are not read any more. ``take(table)``: the thread's answer
    (waiting for it when the thread is reading it), or None when the caller
    must read it itself (the thread has not started it: it is then left to
    the caller; so is a read that failed or takes longer than
    :data:`WAIT`). ``close()`` stops the thread after its current read,
    closes its session and gives the switch interval back (once no other
    prefetch runs).
    """

    def __init__(
        self, connection: BaseDatabaseWrapper, tables: Iterable[tuple[int, str]]
    ) -> None:
        self._wrapper_class = type(connection)
        self._settings = own_session(connection.settings_dict)
        self._alias = connection.alias
        self._lock = threading.Lock()
        self._queue = deque(tables)
        self._futures: dict[str, Future[Any]] = {}
        self._claimed: set[str] = set()
        self._stopped = self._closed = False
        self._position = 0
        #: answers the preview took from the thread
        self.answered = 0
        #: set once the thread has read its tables (or stopped)
        self.finished = threading.Event()
        self._scope = scope(connection)
        self._thread = threading.Thread(
            target=self._run, name="migration-guard-prefetch", daemon=True
        )
        _lower_interval()
        try:
            self._thread.start()
        except BaseException:
            _restore_interval()
            raise

    def reached(self, index: int) -> None:
        with self._lock:
            self._position = index

    def take(self, table: str) -> Any | None:
        with self._lock:
            future = self._futures.get(table)
            if future is None:
                self._claimed.add(table)
                return None
        try:
            answer = future.result(timeout=WAIT)
        except Exception:  # read again by the caller: the editor's own failure
            return None
        self.answered += 1
        return answer

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = self._stopped = True
        try:  # a Ctrl-C while it waits for the thread still gives it back
            self._thread.join(timeout=WAIT)
        finally:
            _restore_interval()

    def _next(self) -> tuple[str, Future[Any]] | None:
        with self._lock:
            while self._queue and not self._stopped:
                index, table = self._queue.popleft()
                if index < self._position or table in self._claimed:
                    continue
                future: Future[Any] = Future()
                self._futures[table] = future
                return table, future
            return None

    def _run(self) -> None:
        # a wrapper of its own, made in this thread (Django's connections are
        # per thread) from the preview's settings: the same database
        wrapper = self._wrapper_class(self._settings, self._alias)
        try:
            if scope(wrapper) != self._scope:
                return  # another schema path: every read is the preview's own
            tables = set(wrapper.introspection.table_names())
            while (item := self._next()) is not None:
                table, future = item
                if table not in tables:
                    future.set_exception(LookupError(table))
                    continue
                try:
                    with wrapper.cursor() as cursor:
                        future.set_result(
                            wrapper.introspection.get_constraints(cursor, table)
                        )
                except Exception as exc:
                    future.set_exception(exc)
        except Exception:  # not only the database's: a driver's socket error,
            # a project's connection_created receiver. No session: every read
            # is the preview's own, and no traceback of this thread on stderr
            pass
        finally:
            self._fail_pending()
            with contextlib.suppress(Exception):
                wrapper.close()
            self.finished.set()

    def _fail_pending(self) -> None:
        with self._lock:
            self._stopped = True
            for future in self._futures.values():
                if not future.done():
                    future.set_exception(RuntimeError("prefetch stopped"))
