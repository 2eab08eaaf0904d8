"""Bounded lock waits for the migrations a run applies, with retries.

An ``ALTER TABLE`` that waits for a lock behind one long transaction blocks
every later query on that table for as long as it waits. Each migration of a
run therefore executes with a lock timeout (PostgreSQL ``lock_timeout``,
MySQL/MariaDB ``lock_wait_timeout`` and ``innodb_lock_wait_timeout``, SQLite
the busy timeout) and optionally a statement timeout. A migration whose
statement gives up waiting is retried, after an exponential backoff with
jitter, when the database undid everything it did: an atomic migration on
PostgreSQL or SQLite, or on MySQL/MariaDB (which cannot roll DDL back) one
whose failing statement was the first to change anything. Any other one is
never retried: it fails, and the run's failure path (restore) takes over.

:func:`bounded` installs this on the executor of one run; Django's own
``migrate`` and its test runner never go through it.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

from migration_guard.conf import migration_guard_settings as conf

#: the longest pause between two attempts, whatever the backoff and retries
MAX_BACKOFF = 60.0
#: what a statement starts with when it only reads or sets the session
_HARMLESS = (
    "select",
    "show",
    "set",
    "describe",
    "desc",
    "explain",
    "savepoint",
    "release",
    "rollback",
)

Say = Callable[[str, str], None]

#: the jitter's random source and the pause between attempts; tests replace
#: them to be deterministic (read when a run starts)
jitter_source: Callable[[], float] = random.random
sleeper: Callable[[float], None] = time.sleep


@dataclass
class LockWaits:
    """How long a migration's statements may wait, and how often to try again.

    ``timeout`` of None (or 0) switches the whole mechanism off. ``rand`` (the
    jitter's random source) and ``sleep`` are injectable so tests are deterministic.
    """

    timeout: float | None = 5.0
    statement_timeout: float | None = None
    retries: int = 3
    backoff: float = 1.0
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], None] = time.sleep

    @property
    def enabled(self) -> bool:
        return bool(self.timeout) or bool(self.statement_timeout)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        Exponential (``backoff``, twice that, four times...) with jitter: a
        random 50-100 % of it, so runs that timed out together do not all
        come back at the same moment.
        """
        ceiling = min(MAX_BACKOFF, self.backoff * 2 ** (retry - 1))
        return float(ceiling * (0.5 + 0.5 * self.rand()))


def from_settings(
    *,
    timeout: float | None = None,
    statement_timeout: float | None = None,
    retries: int | None = None,
    backoff: float | None = None,
) -> LockWaits:
    """The settings (``MIGRATION_GUARD``), each overridden by an option given."""

    def pick(option: Any, key: str) -> Any:
        return conf_value(key) if option is None else option

    return LockWaits(
        timeout=pick(timeout, "LOCK_WAIT_TIMEOUT") or None,
        statement_timeout=pick(statement_timeout, "STATEMENT_TIMEOUT") or None,
        retries=int(pick(retries, "LOCK_WAIT_RETRIES")),
        backoff=float(pick(backoff, "LOCK_WAIT_BACKOFF")),
        rand=jitter_source,
        sleep=sleeper,
    )


def conf_value(key: str) -> Any:
    return getattr(conf, key)


class LockWaitTimeout(DatabaseError):
    """A migration's statement gave up waiting for a lock, for the last time.

    ``nothing_applied`` says that the database holds nothing of the failed
    migration (it was rolled back, or failed on its first change), so the
    run needs no restore.
    """

    def __init__(self, message: str, *, nothing_applied: bool) -> None:
        super().__init__(message)
        self.nothing_applied = nothing_applied


def nothing_applied(exc: BaseException) -> bool:
    """Whether ``exc`` is a lock wait that left nothing of its migration behind."""
    return isinstance(exc, LockWaitTimeout) and exc.nothing_applied


def is_lock_timeout(exc: BaseException, vendor: str) -> bool:
    """Whether ``exc`` is a statement that gave up waiting for a lock."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if vendor == "postgresql":
        code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
        return code == "55P03"  # lock_not_available (lock_timeout)
    if vendor == "mysql":
        args: tuple[Any, ...] = getattr(cause, "args", ())
        return bool(args) and args[0] == 1205  # ER_LOCK_WAIT_TIMEOUT
    if vendor == "sqlite":
        return "database is locked" in str(cause) or "database table is locked" in (
            str(cause)
        )
    return False


# -- setting the timeouts ---------------------------------------------------


def _mysql_seconds(value: float) -> int:
    return max(1, math.ceil(value))  # MariaDB/MySQL take whole seconds only


@contextlib.contextmanager
def _timeouts(
    connection: BaseDatabaseWrapper, policy: LockWaits, atomic: bool
) -> Iterator[None]:
    """Run the block with ``policy``'s timeouts on ``connection``.

    PostgreSQL: ``SET LOCAL`` inside a transaction around an atomic
    migration (the schema editor's own transaction becomes a savepoint of
    it), a session setting put back afterwards around a non-atomic one.
    MySQL/MariaDB and SQLite: session settings put back afterwards.
    """
    vendor = connection.vendor
    if vendor == "postgresql":
        values = {}
        if policy.timeout:
            values["lock_timeout"] = f"{max(1, round(policy.timeout * 1000))}ms"
        if policy.statement_timeout:
            values["statement_timeout"] = (
                f"{max(1, round(policy.statement_timeout * 1000))}ms"
            )
        if atomic:
            with transaction.atomic(using=connection.alias):
                if values:  # one round trip, whatever is set
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT "
                            + ", ".join(["set_config(%s, %s, true)"] * len(values)),
                            [item for pair in values.items() for item in pair],
                        )
                yield
            return
        with _session(
            connection,
            values,
            read="SELECT current_setting(%s)",
            write="SELECT set_config(%s, %s, false)",
        ):
            yield
        return
    if vendor == "mysql":
        mysql_values: dict[str, Any] = {}
        if policy.timeout:
            seconds = _mysql_seconds(policy.timeout)
            mysql_values = {
                "lock_wait_timeout": seconds,
                "innodb_lock_wait_timeout": seconds,
            }
        if policy.statement_timeout and connection.mysql_is_mariadb:  # type: ignore[attr-defined]
            mysql_values["max_statement_time"] = float(policy.statement_timeout)
        with _mysql_session(connection, mysql_values):
            yield
        return
    if vendor == "sqlite" and policy.timeout:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            previous = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA busy_timeout = {round(policy.timeout * 1000)}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {previous}")
        return
    yield


@contextlib.contextmanager
def _session(
    connection: BaseDatabaseWrapper, values: dict[str, str], *, read: str, write: str
) -> Iterator[None]:
    previous = {}
    with connection.cursor() as cursor:
        for name, value in values.items():
            cursor.execute(read, [name])
            previous[name] = cursor.fetchone()[0]
            cursor.execute(write, [name, value])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in previous.items():
                cursor.execute(write, [name, value])


@contextlib.contextmanager
def _mysql_session(
    connection: BaseDatabaseWrapper, values: dict[str, Any]
) -> Iterator[None]:
    if not values:
        yield
        return
    names = list(values)  # fixed names from this module, never user input
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"@@SESSION.{n}" for n in names))
        previous = dict(zip(names, cursor.fetchone(), strict=True))
        cursor.execute(
            "SET " + ", ".join(f"SESSION {n} = %s" for n in names),
            [values[n] for n in names],
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SET " + ", ".join(f"SESSION {n} = %s" for n in names),
                [previous[n] for n in names],
            )


# -- what the attempt did -------------------------------------------------


@dataclass
class Statements:
    """The statements of one attempt, through ``connection.execute_wrapper``."""

    changed: int = 0  #: statements that completed and may have changed something
    failed_sql: str = ""

    def __call__(
        self, execute: Any, sql: Any, params: Any, many: bool, context: Any
    ) -> Any:
        try:
            result = execute(sql, params, many, context)
        except Exception:
            self.failed_sql = str(sql)
            raise
        text = str(sql).lstrip().lower()
        if not text.startswith(_HARMLESS):
            self.changed += 1
        return result


# -- naming the blockers ---------------------------------------------------


@dataclass
class Blockers:
    """The sessions that held the lock, as seen from a second connection."""

    sessions: list[str] = field(default_factory=list)
    source: str = ""

    def describe(self) -> str:
        if not self.sessions:
            return f"No blocking session was seen ({self.source})."
        lines = "\n  ".join(self.sessions)
        return f"Blocking sessions ({self.source}):\n  {lines}"


_PG_BLOCKERS = """
SELECT a.pid, a.application_name, a.usename, a.state,
       EXTRACT(EPOCH FROM (clock_timestamp() - a.xact_start)), a.query
FROM pg_stat_activity a
WHERE a.pid = ANY(pg_blocking_pids(%s))
ORDER BY a.xact_start
"""


def _pg_describe(row: tuple[Any, ...]) -> str:
    pid, app, user, state, age, query = row
    age_text = f"{float(age):.1f}s" if age is not None else "?"
    return (
        f"pid {pid} (application_name {app or '-'!r}, user {user}, {state}, "
        f"transaction open for {age_text}): last query {_short(query)!r}"
    )


def _short(text: Any, limit: int = 200) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


_MDL_PLUGIN = (
    "SELECT COUNT(*) FROM information_schema.PLUGINS "
    "WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'"
)
_MDL_HOLDERS = """
SELECT m.THREAD_ID, m.LOCK_MODE, m.TABLE_SCHEMA, m.TABLE_NAME, p.USER, p.HOST,
       p.COMMAND, p.TIME, p.INFO
FROM information_schema.METADATA_LOCK_INFO m
JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
WHERE m.THREAD_ID <> %s AND m.TABLE_SCHEMA = DATABASE()
ORDER BY m.THREAD_ID
"""
_TRX_HOLDERS = """
SELECT t.trx_mysql_thread_id, p.USER, p.HOST, p.COMMAND, p.STATE,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), t.trx_query, p.INFO
FROM information_schema.INNODB_TRX t
JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE t.trx_mysql_thread_id <> %s
ORDER BY t.trx_started
"""


def mysql_blockers(connection: BaseDatabaseWrapper, thread_id: int) -> Blockers:
    """MariaDB/MySQL: who holds the metadata locks, read on ``connection``.

    ``information_schema.METADATA_LOCK_INFO`` (MariaDB's plugin) names the
    holders exactly; without it, the sessions with an open InnoDB
    transaction are the candidates, and the message says so.
    """
    with connection.cursor() as cursor:
        cursor.execute(_MDL_PLUGIN)
        if cursor.fetchone()[0]:
            cursor.execute(_MDL_HOLDERS, [thread_id])
            sessions = [
                f"thread {tid} ({user}@{host}, {command} for {secs}s) holds "
                f"{mode} on {schema}.{table}: {_short(info) or 'idle'}"
                for tid, mode, schema, table, user, host, command, secs, info in (
                    cursor.fetchall()
                )
            ]
            return Blockers(sessions, "metadata-lock holders, METADATA_LOCK_INFO")
        cursor.execute(_TRX_HOLDERS, [thread_id])
        sessions = [
            f"thread {tid} ({user}@{host}, {command}, {state or 'no state'}, "
            f"transaction open for {age}s): "
            f"{_short(trx_query or info) or 'idle in transaction'}"
            for tid, user, host, command, state, age, trx_query, info in (
                cursor.fetchall()
            )
        ]
    return Blockers(
        sessions,
        "METADATA_LOCK_INFO plugin not installed: sessions with an open "
        "transaction, from INNODB_TRX and PROCESSLIST, which may hold the "
        "metadata lock",
    )


class Watcher:
    """Samples who blocks the migrating session while an attempt runs.

    PostgreSQL only knows the blockers of a session while it waits
    (``pg_blocking_pids``), so a thread polls from a second connection,
    opened only once the attempt has run for a while (most migrations end
    first and never open it), and keeps the last non-empty answer.
    """

    def __init__(self, alias: str, pid: int, timeout: float) -> None:
        self.alias = alias
        self.pid = pid
        self.delay = timeout * 0.25
        self.interval = max(0.02, min(0.5, timeout / 10))
        self.blockers = Blockers(source="pg_blocking_pids")
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="migration-guard-lock-watcher", daemon=True
        )

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        if self._done.wait(self.delay):
            return
        connection = connections.create_connection(self.alias)
        try:
            with connection.cursor() as cursor:
                while True:
                    cursor.execute(_PG_BLOCKERS, [self.pid])
                    rows = cursor.fetchall()
                    if rows:
                        self.blockers.sessions = [_pg_describe(row) for row in rows]
                    if self._done.wait(self.interval):
                        return
        except DatabaseError as exc:  # naming blockers must never fail the run
            self.blockers.source = f"pg_blocking_pids, not read: {exc}"
        finally:
            connection.close()


def _session_id(connection: BaseDatabaseWrapper) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
        else:
            cursor.execute("SELECT CONNECTION_ID()")
        return int(cursor.fetchone()[0])


def _read_blockers(alias: str, thread_id: int) -> Blockers:
    connection = connections.create_connection(alias)
    try:
        return mysql_blockers(connection, thread_id)
    except DatabaseError as exc:
        return Blockers(source=f"information_schema not readable: {exc}")
    finally:
        connection.close()


# -- the retry loop -----------------------------------------------------------


@dataclass
class Attempts:
    """The lock waits of the migrations of one run."""

    connection: BaseDatabaseWrapper
    policy: LockWaits
    say: Say
    journal: Any = None
    executor: MigrationExecutor | None = None
    session: int = 0

    def retryable(self, migration: Migration, statements: Statements) -> bool:
        """Whether the database holds nothing of the failed attempt."""
        if not migration.atomic:
            return False
        if self.connection.features.can_rollback_ddl:
            return True
        return statements.changed == 0

    def run(
        self,
        call: Callable[..., Any],
        state: Any,
        migration: Migration,
        *args: Any,
        forwards: bool,
    ) -> Any:
        connection = self.connection
        attempt = 1
        waits: list[dict[str, Any]] = []
        while True:
            statements = Statements()
            watcher: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            if connection.vendor == "postgresql" and self.policy.timeout:
                watcher = Watcher(connection.alias, self.session, self.policy.timeout)
            try:
                with (
                    watcher as seen,
                    connection.execute_wrapper(statements),
                    _timeouts(connection, self.policy, migration.atomic),
                ):
                    result = call(state, migration, *args)
            except Exception as exc:
                if not is_lock_timeout(exc, connection.vendor):
                    raise
                blockers = self._blockers(seen)
                retry = self.retryable(migration, statements)
                waits.append(
                    {
                        "attempt": attempt,
                        "statement": _short(statements.failed_sql),
                        "error": _short(exc),
                        "blockers": blockers.sessions,
                    }
                )
                said = (
                    f" lock timeout ({self.policy.timeout or 0:g}s) on attempt "
                    f"{attempt} of {self.policy.retries + 1}"
                )
                if retry and attempt <= self.policy.retries:
                    pause = self.policy.delay(attempt)
                    self.say(
                        "WARNING",
                        f"{said}; rolled back, trying again in {pause:.2f}s.",
                    )
                    self.policy.sleep(pause)
                    if forwards:
                        state = self.state_before(migration)
                    attempt += 1
                    continue
                self.say(
                    "ERROR",
                    f"{said}; giving up"
                    + ("." if retry else " (it cannot be rolled back)."),
                )
                raise self._final(
                    migration, waits[-1], attempt, retry, blockers
                ) from exc
            if waits:
                self._annotate(migration, attempt, waits)
            return result

    def state_before(self, migration: Migration) -> ProjectState:
        """The project state to apply ``migration`` on again, after a failure.

        ``Migration.apply`` changes the state it is given, so the failed
        attempt left it half-way; copying it before every attempt would cost
        every migration of every run, a retry is rare: the state is built
        again as ``migrate`` builds its first one, from the migrations
        applied now (those recorded when the run started and those this run
        applied since). ``unapply`` leaves its state alone.
        """
        executor = self.executor
        assert executor is not None
        loader = executor.loader
        applied = set(loader.applied_migrations)
        applied.update(
            (entry["app"], entry["name"])
            for entry in (self.journal.executed if self.journal is not None else ())
            if entry.get("action") == "applied"
        )
        state = ProjectState(real_apps=loader.unmigrated_apps)
        for node, _ in executor.migration_plan(
            loader.graph.leaf_nodes(), clean_start=True
        ):
            if (node.app_label, node.name) in applied:
                node.mutate_state(state, preserve=False)
        return state

    def _blockers(self, seen: Any) -> Blockers:
        if isinstance(seen, Watcher):
            return seen.blockers
        if self.connection.vendor == "mysql":
            return _read_blockers(self.connection.alias, self.session)
        return Blockers(source="SQLite locks the whole file and names no holder")

    def _final(
        self,
        migration: Migration,
        wait: dict[str, Any],
        attempt: int,
        retryable: bool,
        blockers: Blockers,
    ) -> LockWaitTimeout:
        label = f"{migration.app_label}.{migration.name}"
        timeout = self.policy.timeout
        waited = f"waited {timeout:g}s for a lock" if timeout else "timed out"
        if retryable:
            why = (
                f"{label} {waited} on each of {attempt} attempt"
                f"{'s' if attempt != 1 else ''}; nothing of it was applied."
            )
        elif not migration.atomic:
            why = (
                f"{label} {waited}; it is not atomic, so it was not retried "
                "(part of it may have run)."
            )
        else:
            why = (
                f"{label} {waited} after an earlier statement of it had changed "
                f"the schema ({self.connection.vendor} cannot roll DDL back), so "
                "it was not retried."
            )
        return LockWaitTimeout(
            f"{why} The statement that waited: {wait['statement'] or '?'} "
            f"({wait['error']})\n{blockers.describe()}\n"
            "End or wait for the blocking transactions, or raise "
            "--lock-wait-timeout / --lock-wait-retries, and run again.",
            nothing_applied=retryable,
        )

    def _annotate(
        self, migration: Migration, attempts: int, waits: list[dict[str, Any]]
    ) -> None:
        """Record the lock waits in the journal entry of ``migration``."""
        if self.journal is None or not self.journal.executed:
            return
        entry = self.journal.executed[-1]
        if (entry["app"], entry["name"]) == (migration.app_label, migration.name):
            entry["attempts"] = attempts
            entry["lock_waits"] = waits


@contextlib.contextmanager
def bounded(
    executor: MigrationExecutor,
    journal: Any,
    policy: LockWaits | None,
    say: Say,
) -> Iterator[None]:
    """Apply and unapply ``executor``'s migrations under ``policy``.

    The executor's methods are shadowed on the instance for the duration,
    so no other executor (``migrate``, the test runner) is affected.
    """
    policy = policy if policy is not None else from_settings()
    if not policy.enabled:
        yield
        return
    connection = executor.connection
    attempts = Attempts(connection, policy, say, journal, executor)
    if connection.vendor in ("postgresql", "mysql"):
        attempts.session = _session_id(connection)
    apply, unapply = executor.apply_migration, executor.unapply_migration

    def apply_migration(
        state: Any, migration: Migration, fake: bool = False, fake_initial: bool = False
    ) -> Any:
        if fake:
            return apply(state, migration, fake=fake, fake_initial=fake_initial)
        return attempts.run(apply, state, migration, fake, fake_initial, forwards=True)

    def unapply_migration(state: Any, migration: Migration, fake: bool = False) -> Any:
        if fake:
            return unapply(state, migration, fake=fake)
        return attempts.run(unapply, state, migration, fake, forwards=False)

    executor.apply_migration = apply_migration  # type: ignore[method-assign]
    executor.unapply_migration = unapply_migration  # type: ignore[method-assign]
    try:
        yield
    finally:
        del executor.apply_migration
        del executor.unapply_migration
