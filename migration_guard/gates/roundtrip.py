"""Round trips: does every migration's backward step restore the schema?

On an empty database (a scratch database, see :mod:`migration_guard.testing.scratch`),
every migration of the graph is applied in the executor's order. Each
migration of the apps under test is then unapplied, the live schema compared
with a snapshot taken before it was applied, and re-applied; the next one
starts from there. A backward step that leaves a column behind, forgets an
index or drops too much is reported with the table and column; one that
raises is reported with the error; an irreversible migration (a
``RunPython``/``RunSQL`` without reverse, also inside
``SeparateDatabaseAndState``) is reported as such and not unapplied.

The schema comparison is symmetric and between two live snapshots of the
same database, so extra tables and columns count as much as missing ones.
To stay fast, a migration whose operations only change the state of known
models is compared on the tables its delta touches
(:func:`migration_guard.reconcile.schema.expected.migration_deltas`); one that runs code
(``RunSQL``, ``RunPython``) or whose effect is unknown on every table.

States are threaded as the executor threads them: models rendered once and
kept up to date; the states before each operation, which applying a
migration makes anyway, are kept to unapply it, so a round trip costs two
applies and one unapply of the database work and two of the state work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import connections
from django.db.migrations import operations as ops
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from migration_guard.compat.migrations import apply_keeping_states, unapply_with_states
from migration_guard.exceptions import UsageError
from migration_guard.reconcile.schema import (
    ElementKey,
    ElementValue,
    Schema,
    describe_key,
    describe_value,
    flatten,
)
from migration_guard.reconcile.schema.introspect import snapshot
from migration_guard.rollback.partial import Partial, forwards
from migration_guard.run.execution import rolled_back_cleanly
from migration_guard.run.planning import Key, check_conflicts, history_order

Status = Literal["ok", "mismatch", "irreversible", "error", "not run"]


def irreversible_operations(operations: Iterable[Operation]) -> Iterator[Operation]:
    """Operations that cannot be unapplied, also inside SeparateDatabaseAndState."""
    for operation in operations:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            yield from irreversible_operations(operation.database_operations)
        elif not operation.reversible:
            yield operation


def runs_code(operations: Iterable[Operation]) -> bool:
    for operation in operations:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            if runs_code(operation.database_operations):
                return True
        elif isinstance(operation, ops.RunSQL | ops.RunPython):
            return True
    return False


@dataclass(frozen=True)
class SchemaChange:
    """An element the backward step did not put back as it was."""

    key: ElementKey
    #: before the migration was applied (``None``: absent)
    before: ElementValue | None
    #: after it was applied and unapplied (``None``: absent)
    after: ElementValue | None

    @property
    def table(self) -> str:
        return self.key[1]

    @property
    def column(self) -> str | None:
        return self.key[2] if self.key[0] in ("column", "fk") else None

    def __str__(self) -> str:
        what = describe_key(self.key)
        if self.before is None:
            return f"{what} left behind ({describe_value(self.after)})"
        if self.after is None:
            return f"{what} missing (was {describe_value(self.before)})"
        return (
            f"{what} is {describe_value(self.after)}, was {describe_value(self.before)}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "element": list(self.key),
            "table": self.table,
            "column": self.column,
            "before": None if self.before is None else describe_value(self.before),
            "after": None if self.after is None else describe_value(self.after),
            "message": str(self),
        }


_KIND_ORDER = {"table": 0, "column": 1, "fk": 2, "unique": 3, "index": 4, "check": 5}


def schema_changes(before: Schema, after: Schema) -> list[SchemaChange]:
    """Every element that differs between two live snapshots, both ways.

    A table present on one side only is one change, not one per column.
    """
    old, new = flatten(before), flatten(after)
    lone = {name for name in before.keys() ^ after.keys()}
    changes = [
        SchemaChange(key, old.get(key), new.get(key))
        for key in old.keys() | new.keys()
        if old.get(key) != new.get(key) and (key[0] == "table" or key[1] not in lone)
    ]
    changes.sort(key=lambda c: (c.key[1], _KIND_ORDER.get(c.key[0], 9), c.key[2:]))
    return changes


@dataclass
class MigrationResult:
    app_label: str
    name: str
    status: Status
    apply: float = 0.0
    unapply: float = 0.0
    reapply: float = 0.0
    changes: list[SchemaChange] = field(default_factory=list)
    #: the error of a step that raised, or what makes it irreversible
    error: str = ""
    #: which step raised: "apply", "unapply" or "re-apply"
    step: str = ""
    #: tables compared (None: all of them)
    tables: list[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "error")

    @property
    def seconds(self) -> float:
        return self.apply + self.unapply + self.reapply

    def describe(self) -> str:
        """One line: ``OK``, ``backward step leaves ...``, ``IRREVERSIBLE: ...``."""
        if self.status == "ok":
            return "OK"
        if self.status == "mismatch":
            text = "the backward step does not restore the schema: " + "; ".join(
                str(change) for change in self.changes
            )
            if self.error:
                text += f"; re-applying it then failed: {self.error}"
            return text
        if self.status == "irreversible":
            return f"IRREVERSIBLE: {self.error}"
        if self.status == "error":
            return f"{self.step} failed: {self.error}"
        return f"not run: {self.error}"

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app_label,
            "name": self.name,
            "status": self.status,
            "message": self.describe(),
            "seconds": {
                "apply": round(self.apply, 6),
                "unapply": round(self.unapply, 6),
                "reapply": round(self.reapply, 6),
            },
            "differences": [change.as_json() for change in self.changes],
            "error": self.error or None,
            "step": self.step or None,
            "tables_compared": self.tables,
        }


@dataclass
class Report:
    alias: str
    vendor: str
    #: where it ran: "postgresql database 'test_x'", "temporary SQLite file ..."
    where: str
    app_labels: list[str]
    results: list[MigrationResult] = field(default_factory=list)
    #: migrations of other apps, applied forwards only
    applied_only: int = 0
    seconds: float = 0.0
    #: why the round trip stopped before the end, if it did
    stopped: str = ""

    @property
    def failures(self) -> list[MigrationResult]:
        return [result for result in self.results if result.failed]

    @property
    def irreversible(self) -> list[MigrationResult]:
        return [r for r in self.results if r.status == "irreversible"]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stopped

    def summary(self) -> dict[str, int]:
        counts = {"ok": 0, "mismatch": 0, "irreversible": 0, "error": 0}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def lines(self) -> list[str]:
        """The failures, one paragraph each, for a message or an assertion."""
        out = []
        for result in self.failures:
            out.append(f"{result.label}: {result.describe()}")
        if self.stopped:
            out.append(f"Stopped: {self.stopped}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.alias,
            "vendor": self.vendor,
            "scratch": self.where,
            "apps": self.app_labels,
            "migrations": [result.as_json() for result in self.results],
            "applied_only": self.applied_only,
            "summary": self.summary(),
            "stopped": self.stopped or None,
            "seconds": round(self.seconds, 6),
        }


Observer = Callable[[MigrationResult], None]


class _Snapshots:
    """Live snapshots, with SQLite tables read once per distinct definition.

    SQLite keeps the full definition of each table and index as SQL text in
    ``sqlite_master``, and everything introspection reports derives from it;
    reading that text is one query, where introspecting a table parses it
    several times. A table whose definition text was introspected before is
    taken from the cache; so a table a backward step puts back exactly as
    it was costs nothing to compare.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cache: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def definitions(self, tables: set[str] | None) -> dict[str, tuple[Any, ...]]:
        found: dict[str, list[tuple[Any, ...]]] = {}
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT tbl_name, type, name, sql FROM sqlite_master "
                "WHERE type IN ('table', 'index')"
            )
            for table, *rest in cursor.fetchall():
                if table.startswith("sqlite_"):
                    continue
                if tables is None or table in tables:
                    found.setdefault(table, []).append(tuple(rest))
        return {
            table: tuple(sorted(rows, key=repr))
            for table, rows in found.items()
            if any(row[0] == "table" for row in rows)
        }

    def take(self, tables: set[str] | None) -> Schema:
        if self.connection.vendor != "sqlite":
            return snapshot(self.connection, tables)
        definitions = self.definitions(tables)
        missing = [t for t, d in definitions.items() if (t, d) not in self.cache]
        if missing:
            for name, table in snapshot(self.connection, missing).items():
                self.cache[(name, definitions[name])] = table
        return {
            name: self.cache[(name, definition)]
            for name, definition in definitions.items()
            if (name, definition) in self.cache
        }


def _error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tables_to_compare(
    migration: Migration, deltas: dict[Key, Any] | None
) -> set[str] | None:
    """The tables the migration's delta touches; None for all of them."""
    if deltas is None or runs_code(migration.operations):
        return None
    delta = deltas.get((migration.app_label, migration.name))
    if delta is None:
        return None
    return set(delta.tables)


def roundtrip_on(
    alias: str,
    app_labels: Iterable[str] | None = None,
    *,
    observe: Observer | None = None,
    where: str = "",
    narrow: bool = True,
) -> Report:
    """Round-trip the migrations of ``app_labels`` on the empty database ``alias``.

    ``None`` means every app with migrations. ``observe`` is called with each
    result as soon as it is known. ``narrow=False`` compares every table at
    every step (slower; for checking the narrowing itself).
    """
    started = time.monotonic()
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    loader = executor.loader
    check_conflicts(loader)
    wanted = _wanted(loader, app_labels)
    report = Report(alias, connection.vendor, where, sorted(wanted))
    plan = history_order(loader)
    deltas = None
    if narrow:
        from migration_guard.reconcile.schema.expected import migration_deltas

        deltas = migration_deltas(loader, connection, plan)
    # an unrendered walk; each migration runs on a rendered state of only
    # the models it needs (all of them for RunPython), see
    # migration_guard.rollback.partial
    walk = ProjectState(real_apps=loader.unmigrated_apps)
    partial = Partial()
    snapshots = _Snapshots(connection)
    for index, migration in enumerate(plan):
        state = partial.state_for(migration, walk, code=True)
        forwards(migration, walk)
        if migration.app_label not in wanted:
            try:
                with connection.schema_editor(atomic=migration.atomic) as editor:
                    apply_keeping_states(migration, state, editor)
            except Exception as exc:
                report.stopped = (
                    f"applying {migration.app_label}.{migration.name} failed: "
                    f"{_error(exc)}; the migrations after it were not checked"
                )
                break
            report.applied_only += 1
            continue
        result, state_after = _roundtrip_one(
            connection, migration, state, deltas, snapshots
        )
        report.results.append(result)
        if observe is not None:
            observe(result)
        if state_after is None:
            if result.step in ("apply", "re-apply"):
                done = "applied" if result.step == "apply" else "re-applied"
                report.stopped = (
                    f"{result.label} could not be {done}, so the migrations "
                    "after it were not checked"
                )
            else:
                report.stopped = (
                    f"the failed backward step of {result.label} left the "
                    f"database half-done ({connection.vendor} cannot roll back "
                    "DDL, or the migration is not atomic), so the migrations "
                    "after it were not checked"
                )
            for rest in plan[index + 1 :]:
                if rest.app_label in wanted:
                    report.results.append(
                        MigrationResult(
                            rest.app_label,
                            rest.name,
                            "not run",
                            error=f"stopped after {result.label}",
                        )
                    )
            break
        partial.state = state_after
    report.seconds = time.monotonic() - started
    return report


def _wanted(loader: Any, app_labels: Iterable[str] | None) -> set[str]:
    migrated = set(loader.migrated_apps)
    if app_labels is None:
        return migrated
    wanted = set(app_labels)
    unknown = wanted - migrated
    if unknown:
        raise UsageError(
            f"No migrations for app(s) {', '.join(sorted(unknown))}. Apps with "
            f"migrations: {', '.join(sorted(migrated)) or '(none)'}."
        )
    return wanted


def _roundtrip_one(
    connection: Any,
    migration: Migration,
    state: ProjectState,
    deltas: dict[Key, Any] | None,
    snapshots: _Snapshots,
) -> tuple[MigrationResult, ProjectState | None]:
    """Apply, unapply, compare, re-apply one migration.

    Returns the result and the state after the migration (``None`` when the
    round trip cannot go on from here).
    """
    result = MigrationResult(migration.app_label, migration.name, "ok")
    tables = _tables_to_compare(migration, deltas)
    result.tables = None if tables is None else sorted(tables)
    blocking = list(irreversible_operations(migration.operations))
    before: Schema | None = None
    if not blocking and (tables is None or tables):
        before = snapshots.take(tables)
    clock = time.monotonic()
    try:
        with connection.schema_editor(atomic=migration.atomic) as editor:
            states = apply_keeping_states(migration, state, editor)
    except Exception as exc:
        result.status, result.step, result.error = "error", "apply", _error(exc)
        return result, None
    result.apply = time.monotonic() - clock
    if blocking:
        result.status = "irreversible"
        result.error = "; ".join(_why_irreversible(op) for op in blocking)
        return result, states[-1]
    clock = time.monotonic()
    try:
        with connection.schema_editor(atomic=migration.atomic) as editor:
            unapply_with_states(migration, states, editor)
    except Exception as exc:  # IrreversibleError: a custom operation said so late
        result.unapply = time.monotonic() - clock
        if isinstance(exc, IrreversibleError):
            result.status = "irreversible"
        else:
            result.status, result.step = "error", "unapply"
        result.error = _error(exc)
        return result, states[-1] if rolled_back_cleanly(
            migration, connection.alias
        ) else None
    result.unapply = time.monotonic() - clock
    if before is not None:
        result.changes = schema_changes(before, snapshots.take(tables))
        if result.changes:
            result.status = "mismatch"
    state = states[0]  # the state before the migration, not moved by unapplying
    clock = time.monotonic()
    try:
        with connection.schema_editor(atomic=migration.atomic) as editor:
            apply_keeping_states(migration, state, editor)
    except Exception as exc:
        result.reapply = time.monotonic() - clock
        if result.status == "ok":
            result.status = "error"
        result.step = "re-apply"
        result.error = _error(exc)
        return result, None
    result.reapply = time.monotonic() - clock
    return result, state


def _why_irreversible(operation: Operation) -> str:
    if isinstance(operation, ops.RunPython):
        return f"{operation.describe()} has no reverse function"
    if isinstance(operation, ops.RunSQL):
        return f"{operation.describe()} has no reverse_sql"
    return f"{operation.describe()} cannot be reversed"


def run_roundtrip(
    alias: str,
    app_labels: Iterable[str] | None = None,
    *,
    observe: Observer | None = None,
    narrow: bool = True,
) -> Report:
    """Round-trip on a scratch database on ``alias``'s server; dropped afterwards."""
    from migration_guard.testing.scratch import scratch_database

    with scratch_database(alias, purpose="roundtrip") as scratch:
        report = roundtrip_on(
            scratch.alias,
            app_labels,
            observe=observe,
            where=scratch.describe(),
            narrow=narrow,
        )
    report.alias = alias
    return report
