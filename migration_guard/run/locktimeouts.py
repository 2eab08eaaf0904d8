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
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

from migration_guard.conf import migration_guard_settings as conf
from migration_guard.run.blockers import (
    Blockers,
    Watcher,
    read_blockers,
    session_id,
    short,
)
from migration_guard.run.sessiontimeouts import statement_timeout_supported, timeouts

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
#: the backends without a statement timeout, by vendor, as the warning names them
_NO_STATEMENT_TIMEOUT = {"sqlite": "SQLite has none", "mysql": "MySQL has none for DDL"}

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


class StatementTimeout(DatabaseError):
    """A migration's statement ran longer than the statement timeout."""


def is_statement_timeout(exc: BaseException, vendor: str) -> bool:
    """Whether ``exc`` is a statement the database cancelled for running too long."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if vendor == "postgresql":
        code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
        return code == "57014" and "statement timeout" in str(cause)
    if vendor == "mysql":
        args: tuple[Any, ...] = getattr(cause, "args", ())
        return bool(args) and args[0] == 1969  # ER_STATEMENT_TIMEOUT
    return False


# -- setting the timeouts ---------------------------------------------------


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


def _wait(
    attempt: int, statements: Statements, exc: Exception, blockers: Blockers
) -> dict[str, Any]:
    """The ledger's record of one attempt that timed out waiting for a lock."""
    return {
        "attempt": attempt,
        "statement": short(statements.failed_sql),
        "error": short(exc),
        "blockers": blockers.sessions,
    }


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
        if not self.session and self.connection.vendor in ("postgresql", "mysql"):
            # asked once, when the first migration runs: a run with nothing
            # to apply costs no query
            self.session = session_id(self.connection)
        attempt = 1
        waits: list[dict[str, Any]] = []
        while True:
            statements = Statements()
            watcher = self._watcher()
            try:
                with (
                    watcher as seen,
                    self.connection.execute_wrapper(statements),
                    timeouts(self.connection, self.policy, migration.atomic),
                ):
                    result = call(state, migration, *args)
            except Exception as exc:
                if not is_lock_timeout(exc, self.connection.vendor):
                    self._name_statement_timeout(exc, migration, statements)
                    raise
                retry = self.retryable(migration, statements)
                blockers = self._blockers(seen)
                waits.append(_wait(attempt, statements, exc, blockers))
                if not self._again(attempt, retry):
                    raise self._final(
                        migration, waits[-1], attempt, retry, blockers
                    ) from exc
                if forwards:
                    state = self.state_before(migration)
                attempt += 1
                continue
            if waits:
                self._annotate(migration, attempt, waits)
            return result

    def _watcher(self) -> contextlib.AbstractContextManager[Any]:
        if self.connection.vendor == "postgresql" and self.policy.timeout:
            return Watcher(self.connection.alias, self.session, self.policy.timeout)
        return contextlib.nullcontext()

    def _name_statement_timeout(
        self, exc: Exception, migration: Migration, statements: Statements
    ) -> None:
        """Raise a :class:`StatementTimeout` when ``exc`` is one."""
        if is_statement_timeout(exc, self.connection.vendor):
            label = f"{migration.app_label}.{migration.name}"
            raise StatementTimeout(
                f"{label} ran a statement longer than the statement timeout "
                f"({self.policy.statement_timeout or 0:g}s); the database "
                "cancelled it, and a statement timeout is not retried. The "
                f"statement: {short(statements.failed_sql) or '?'} ({short(exc)})"
            ) from exc

    def _again(self, attempt: int, retry: bool) -> bool:
        """Say what happens after a lock timeout; pause when trying again."""
        said = (
            f" lock timeout ({self.policy.timeout or 0:g}s) on attempt "
            f"{attempt} of {self.policy.retries + 1}"
        )
        if retry and attempt <= self.policy.retries:
            pause = self.policy.delay(attempt)
            self.say("WARNING", f"{said}; rolled back, trying again in {pause:.2f}s.")
            self.policy.sleep(pause)
            return True
        self.say(
            "ERROR",
            f"{said}; giving up" + ("." if retry else " (it cannot be rolled back)."),
        )
        return False

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
            return read_blockers(self.connection.alias, self.session)
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
    if policy.statement_timeout and not statement_timeout_supported(connection):
        say(
            "WARNING",
            f"Statement timeout ({policy.statement_timeout:g}s): "
            + _NO_STATEMENT_TIMEOUT.get(connection.vendor, "not supported")
            + f"; the statements of database '{connection.alias}' run without a "
            "limit.",
        )
    attempts = Attempts(connection, policy, say, journal, executor)
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
