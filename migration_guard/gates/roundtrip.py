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

The states come from the one walk over the history (:mod:`migration_guard.walk`),
unrendered; each migration runs on a rendered state of only the models it
needs (:mod:`migration_guard.rollback.partial`), kept up to date as the executor
keeps its own. The states before each operation, which applying a migration
makes anyway, are kept to unapply it, so a round trip costs two applies and
one unapply of the database work and two of the state work. What it reports
is in :mod:`migration_guard.gates.roundtrip_report`.
"""

from __future__ import annotations

__all__ = [
    "MigrationResult",
    "Report",
    "SchemaChange",
    "Status",
    "irreversible_operations",
    "roundtrip_on",
    "run_roundtrip",
    "schema_changes",
]

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import connections
from django.db.migrations import operations as ops
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from migration_guard.compat.migrations import apply_keeping_states, unapply_with_states
from migration_guard.exceptions import UsageError
from migration_guard.gates.roundtrip_report import (
    MigrationResult,
    Report,
    SchemaChange,
    Status,
    schema_changes,
)
from migration_guard.reconcile.schema import (
    Schema,
)
from migration_guard.reconcile.schema.expected import migration_deltas
from migration_guard.reconcile.schema.introspect import CachedSnapshots
from migration_guard.rollback.partial import Partial
from migration_guard.run.execution import rolled_back_cleanly
from migration_guard.run.planning import Key, check_conflicts, history_order
from migration_guard.unwrap import code_operations, database_side
from migration_guard.walk import StateWalk


def irreversible_operations(operations: Iterable[Operation]) -> Iterator[Operation]:
    """Operations that cannot be unapplied, also inside SeparateDatabaseAndState."""
    return (op for op in database_side(operations) if not op.reversible)


Observer = Callable[[MigrationResult], None]


def _error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tables_to_compare(
    migration: Migration, deltas: dict[Key, Any] | None
) -> set[str] | None:
    """The tables the migration's delta touches; None for all of them."""
    if deltas is None or code_operations(migration.operations):
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
    loader = MigrationExecutor(connection).loader
    check_conflicts(loader)
    wanted = _wanted(loader, app_labels)
    report = Report(alias, connection.vendor, where, sorted(wanted))
    order = history_order(loader)
    deltas = migration_deltas(loader, connection, order) if narrow else None
    # an unrendered walk; each migration runs on a rendered state of only
    # the models it needs (all of them for RunPython), see
    # migration_guard.rollback.partial
    partial = Partial()
    snapshots = CachedSnapshots(connection)
    for index, visit in enumerate(StateWalk(loader, order=order)):
        migration = visit.migration
        state = partial.state_for(migration, visit.state, code=True)
        if migration.app_label not in wanted:
            report.stopped = _apply_only(connection, migration, state)
            if report.stopped:
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
            _stop(
                report, result, [m for m in order[index + 1 :] if m.app_label in wanted]
            )
            break
        partial.state = state_after
    report.seconds = time.monotonic() - started
    return report


def _apply_only(connection: Any, migration: Migration, state: ProjectState) -> str:
    """Apply a migration of an app not under test; why the round trip stops, if so."""
    try:
        with connection.schema_editor(atomic=migration.atomic) as editor:
            apply_keeping_states(migration, state, editor)
    except Exception as exc:
        return (
            f"applying {migration.app_label}.{migration.name} failed: "
            f"{_error(exc)}; the migrations after it were not checked"
        )
    return ""


def _stop(report: Report, result: MigrationResult, rest: list[Migration]) -> None:
    """Stop the round trip after ``result``; ``rest`` is not run."""
    if result.step in ("apply", "re-apply"):
        done = "applied" if result.step == "apply" else "re-applied"
        report.stopped = (
            f"{result.label} could not be {done}, so the migrations "
            "after it were not checked"
        )
    else:
        report.stopped = (
            f"the failed backward step of {result.label} left the "
            f"database half-done ({report.vendor} cannot roll back "
            "DDL, or the migration is not atomic), so the migrations "
            "after it were not checked"
        )
    report.results += [
        MigrationResult(
            migration.app_label,
            migration.name,
            "not run",
            error=f"stopped after {result.label}",
        )
        for migration in rest
    ]


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
    snapshots: CachedSnapshots,
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
    if not _unapply_step(connection, migration, states, result):
        back = rolled_back_cleanly(migration, connection.alias)
        return result, states[-1] if back else None
    if before is not None:
        result.changes = schema_changes(before, snapshots.take(tables))
        if result.changes:
            result.status = "mismatch"
    # the state before the migration, not moved by unapplying
    return result, _reapply_step(connection, migration, states[0], result)


def _unapply_step(
    connection: Any,
    migration: Migration,
    states: list[ProjectState],
    result: MigrationResult,
) -> bool:
    """Unapply the migration; whether it went through (else ``result`` says why)."""
    clock = time.monotonic()
    try:
        with connection.schema_editor(atomic=migration.atomic) as editor:
            unapply_with_states(migration, states, editor)
    except Exception as exc:  # IrreversibleError: a custom operation said so late
        if isinstance(exc, IrreversibleError):
            result.status = "irreversible"
        else:
            result.status, result.step = "error", "unapply"
        result.error = _error(exc)
        return False
    finally:
        result.unapply = time.monotonic() - clock
    return True


def _reapply_step(
    connection: Any, migration: Migration, state: ProjectState, result: MigrationResult
) -> ProjectState | None:
    """Apply the migration again; the state after it, ``None`` if it failed."""
    clock = time.monotonic()
    try:
        with connection.schema_editor(atomic=migration.atomic) as editor:
            apply_keeping_states(migration, state, editor)
    except Exception as exc:
        if result.status == "ok":
            result.status = "error"
        result.step = "re-apply"
        result.error = _error(exc)
        return None
    finally:
        result.reapply = time.monotonic() - clock
    return state


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
