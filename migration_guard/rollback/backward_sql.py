"""The backward SQL of a plan, step by step, without executing anything.

Each migration's SQL is collected as ``Migration.unapply`` would run it, in a
schema editor that collects instead of executing. Some schema editor paths
read the live database to name what they drop (``alter_unique_together`` and
``alter_index_together``, ``_constraint_names`` in ``AlterField`` and
``RemoveField``, ``RenameIndex``, MySQL's foreign key indexes, PostgreSQL's
sequences): the live database is the one *before* the plan, while that step
runs *after* the earlier, unexecuted ones. Such a step's SQL cannot be
produced without executing the earlier steps, and is marked as such, with
the reason, instead of crashing the preview or printing SQL read from the
wrong schema. The rest is still printed.

Two passes: the SQL and what each operation read and wrote is generated in
history order (the order the states are built in) and spooled to a file;
then, in plan order, a table is *changed* once an earlier step's statements
name it, and an operation that read a changed table, or whose generation
failed, is marked.
"""

from __future__ import annotations

import copy
import pickle
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

from migration_guard.compat.backends import replace_introspection
from migration_guard.rollback.partial import Partial, light_forwards
from migration_guard.rollback.prefetch import (
    ConstraintPrefetch,
    named_tables,
    shared_schema,
)
from migration_guard.run.planning import Key, Plan, history_order
from migration_guard.walk import Visit, plan_walk

NOT_PREVIEWED = "-- NOT PREVIEWED (needs the earlier steps executed): "


@dataclass
class OperationSQL:
    """Undoing one operation: its SQL, or why it cannot be shown."""

    described: str
    lines: list[str] = field(default_factory=list)
    #: tables the schema editor read from the live database for it
    read: set[str] = field(default_factory=set)
    #: identifiers its statements name (tables, columns, constraints)
    names: set[str] = field(default_factory=set)
    error: str = ""
    #: why these lines cannot be trusted; set in plan order
    unavailable: str = ""

    def text(self) -> list[str]:
        head = ["--", f"-- {self.described}", "--"] if self.described else []
        if self.unavailable:
            return [*head, NOT_PREVIEWED + self.unavailable]
        return head + self.lines

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": self.described,
            "sql": [] if self.unavailable else list(self.lines),
            "previewed": not self.unavailable,
            "reason": self.unavailable,
        }


@dataclass
class MigrationSQL:
    key: Key
    operations: list[OperationSQL] = field(default_factory=list)
    irreversible: str = ""

    @property
    def label(self) -> str:
        return f"{self.key[0]}.{self.key[1]}"

    @property
    def complete(self) -> bool:
        return not any(op.unavailable for op in self.operations)

    def text(self) -> list[str]:
        lines = [f"--\n-- Unapply {self.label}\n--"]
        if self.irreversible:
            return [*lines, self.irreversible]
        for operation in self.operations:
            lines += operation.text()
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.key[0],
            "name": self.key[1],
            "irreversible": self.irreversible,
            "complete": self.complete,
            "operations": [op.as_json() for op in self.operations],
        }


def key_of(migration: Migration) -> Key:
    return (migration.app_label, migration.name)


class _ReadRecorder:
    """Stands in for ``connection.introspection``: notes the tables it is asked about.

    Every introspection method that reads a table takes ``(cursor,
    table_name, ...)``; the table names asked for are collected in ``read``.
    Nothing is executed while a preview collects SQL, so the live schema
    cannot change under it: each table read is answered by the database
    once and remembered (on MariaDB each ``get_constraints`` is several
    ``information_schema`` queries), or answered ahead by ``prefetch``
    (:mod:`migration_guard.rollback.prefetch`). ``reads`` counts the
    database's answers.
    """

    def __init__(
        self, introspection: Any, prefetch: ConstraintPrefetch | None = None
    ) -> None:
        self._introspection = introspection
        self._prefetch = prefetch
        self.read: set[str] = set()
        self.reads = 0
        self._answers: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._introspection, name)
        if not callable(attribute):
            return attribute

        def recorded(*args: Any, **kwargs: Any) -> Any:
            if len(args) >= 2 and isinstance(args[1], str) and not kwargs:
                self.read.add(args[1])
                return self._answer(name, attribute, args)
            if isinstance(kwargs.get("table_name"), str):
                self.read.add(kwargs["table_name"])
            return attribute(*args, **kwargs)

        return recorded

    def _answer(
        self, name: str, method: Callable[..., Any], args: tuple[Any, ...]
    ) -> Any:
        key = (name, args[1:])  # the cursor differs from call to call
        if key not in self._answers:
            self.reads += 1
            answer = None
            if self._prefetch is not None and name == "get_constraints":
                answer = self._prefetch.take(args[1])
            self._answers[key] = method(*args) if answer is None else answer
        return copy.deepcopy(self._answers[key])


def _names_in(connection: BaseDatabaseWrapper) -> Callable[[str], set[str]]:
    """A function giving the quoted identifiers of a statement."""
    quote = connection.ops.quote_name("x")[0]
    pattern = re.compile(
        re.escape(quote) + "([^" + re.escape(quote) + "]+)" + re.escape(quote)
    )
    return lambda sql: set(pattern.findall(sql))


def irreversible_sql(migration: Migration) -> MigrationSQL | None:
    """The "cannot be reversed" of a migration with an irreversible operation.

    Such a migration has no SQL to show: no state is rendered for it.
    """
    irreversible = [op for op in migration.operations if not op.reversible]
    if not irreversible:
        return None
    result = MigrationSQL((migration.app_label, migration.name))
    result.irreversible = (
        f"-- IRREVERSIBLE: {irreversible[0].describe()} in "
        f"{migration.app_label}.{migration.name} cannot be reversed"
    )
    return result


def migration_sql(
    migration: Migration,
    state: ProjectState,
    connection: BaseDatabaseWrapper,
    recorder: _ReadRecorder,
) -> MigrationSQL:
    """The SQL of unapplying ``migration``, as ``Migration.unapply`` collects it.

    ``state`` is the rendered state before the migration (of the models it
    needs) and comes out advanced past it, kept up to date by the operations
    as the executor's is: a migration of n operations costs n clones of it
    (the states before each operation). A failure of the schema editor is
    kept with the operation. The migration is reversible
    (:func:`irreversible_sql`).
    """
    app_label, operations = migration.app_label, migration.operations
    result = MigrationSQL((app_label, migration.name))
    states = []
    for operation in operations:
        states.append(state.clone())
        light_forwards(operation, app_label, state)
    states.append(state)
    names_in = _names_in(connection)
    # not atomic: a failed read must not abort the reads of later operations
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        collected = editor.collected_sql
        for index in reversed(range(len(operations))):
            operation = operations[index]
            entry = OperationSQL(operation.describe())
            result.operations.append(entry)
            if not operation.reduces_to_sql:
                entry.lines.append("-- THIS OPERATION CANNOT BE WRITTEN AS SQL")
                continue
            size = len(collected)
            recorder.read = set()
            try:
                # a copy: RenameModel and RenameIndex swap their own names for
                # the time of database_backwards, and a failure here is caught
                copy.copy(operation).database_backwards(
                    app_label, editor, states[index + 1], states[index]
                )
            except Exception as exc:  # the editor read a schema it did not expect
                entry.error = f"{type(exc).__name__}: {exc}"
            entry.lines = collected[size:] or ["-- (no-op)"]
            entry.read = recorder.read
            entry.names = set().union(*map(names_in, entry.lines))
        size = len(collected)
    if len(collected) > size:  # deferred statements (indexes, foreign keys)
        deferred = OperationSQL("", collected[size:])
        deferred.names = set().union(*map(names_in, deferred.lines))
        result.operations.append(deferred)
    return result


def mark_unavailable(steps: Iterator[MigrationSQL]) -> Iterator[MigrationSQL]:
    """In plan order: mark what depends on the database after earlier steps."""
    changed: dict[str, str] = {}  # identifier -> the first step that names it
    for step in steps:
        for operation in step.operations:
            stale = sorted(table for table in operation.read if table in changed)
            if operation.error or stale:
                operation.unavailable = _why(operation.error, stale, changed)
            touched = operation.names | (
                operation.read if operation.unavailable else set()
            )
            for name in touched:
                changed.setdefault(name, step.label)
        yield step


def _why(error: str, stale: list[str], changed: dict[str, str]) -> str:
    changes = "; ".join(
        f"{table} is changed by {changed[table]} first" for table in stale
    )
    if error and changes:
        return f"the schema editor reads the live database ({error}); {changes}"
    if error:
        return (
            f"the schema editor reads the live database, which does not match ({error})"
        )
    return (
        "the schema editor reads the live database, which is not yet as the "
        f"earlier steps leave it ({changes})"
    )


def _collect(
    visit: Visit,
    partial: Partial,
    connection: BaseDatabaseWrapper,
    recorder: _ReadRecorder,
) -> MigrationSQL:
    """The SQL of unapplying the visited migration; ``partial`` follows the walk."""
    irreversible = irreversible_sql(visit.migration)
    if irreversible is not None:
        partial.seen(visit.migration, visit.state)
        return irreversible
    rendered = partial.state_for(visit.migration, visit.state)
    return migration_sql(visit.migration, rendered, connection, recorder)


class BackwardSQL:
    """The backward SQL of a plan, collected visit by visit of a walk.

    One forward pass over the applied history threads an unrendered state
    (``loader.collect_sql`` gets multi-migration backward plans wrong, and
    the executor keeps one rendered state per migration: 1.4 GB at 1200);
    each wanted migration gets a rendered state of only the models it needs
    (:mod:`migration_guard.rollback.partial`), an irreversible one none. Each
    migration's SQL comes out in history order but is wanted in plan order:
    it is spooled to a temporary file and read back in plan order, so memory
    stays flat. The walk is the caller's (:func:`plan_walk`): the revert
    preview hands it each visit of its own walk, before it moves the state
    (:func:`migration_guard.rollback.preview.build_preview`). A context
    manager: the spool, and the session that reads constraints ahead
    (:mod:`~migration_guard.rollback.prefetch`), are closed on exit.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.connection = connections[plan.executor.connection.alias]
        self.wanted = set(plan.keys())
        self.places: dict[Key, tuple[int, int]] = {}
        self.partial = Partial(delayed=True)
        # the spool first: the thread started last has nothing after it that
        # may fail (no TMPDIR) and leave it, and the lowered interval, behind
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed by __exit__)
        self.prefetch = None
        if shared_schema(self.connection):  # in the order the walk visits them
            try:
                order = history_order(plan.loader)
                wanted = [m for m in order if key_of(m) in self.wanted]
                tables = named_tables(wanted)
                self.prefetch = ConstraintPrefetch(self.connection, tables)
            except BaseException:
                self.spool.close()
                raise
        self.recorder = _ReadRecorder(self.connection.introspection, self.prefetch)

    def __enter__(self) -> BackwardSQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self._end_prefetch()
        self.spool.close()

    def _end_prefetch(self) -> None:
        if self.prefetch is not None:
            self.prefetch.close()
            self.prefetch = None

    def visit(self, visit: Visit) -> None:
        """Collect the visited migration's SQL, if wanted; the state is not moved."""
        if visit.key not in self.wanted:
            self.partial.seen(visit.migration, visit.state)
            return
        if self.prefetch is not None:
            self.prefetch.reached(len(self.places))
        connection, recorder = self.connection, self.recorder
        replace_introspection(connection, recorder)
        try:
            collected = _collect(visit, self.partial, connection, recorder)
        finally:
            replace_introspection(connection, recorder._introspection)
        data = pickle.dumps(collected)
        self.places[visit.key] = (self.spool.tell(), len(data))
        self.spool.write(data)

    def steps(self) -> Iterator[MigrationSQL]:
        """Each step's backward SQL, in plan (execution) order, marked."""
        self._end_prefetch()  # the walk is over: nothing more is read

        def in_plan_order() -> Iterator[MigrationSQL]:
            for step in self.plan.steps:
                if step.key not in self.places:  # see history_order: a squash
                    yield _not_walked(step.key)
                    continue
                start, length = self.places[step.key]
                self.spool.seek(start)
                loaded: MigrationSQL = pickle.loads(self.spool.read(length))
                yield loaded

        yield from mark_unavailable(in_plan_order())


def _not_walked(key: Key) -> MigrationSQL:
    """A step the walk of the history does not visit: a squashed migration
    whose replaced migrations are the steps of the history (planning's
    ``history_order``); its SQL is not shown, and says why."""
    operation = OperationSQL(
        "",
        unavailable=(
            "the walk of the history steps through the migrations this squashed "
            "migration replaces, not through it; its SQL cannot be shown here "
            f"(manage.py sqlmigrate {key[0]} {key[1]} --backwards)"
        ),
    )
    return MigrationSQL(key, [operation])


def backward_sql(plan: Plan) -> Iterator[MigrationSQL]:
    """Each step's backward SQL, in plan (execution) order, marked
    (:class:`BackwardSQL` over a walk of its own)."""
    with BackwardSQL(plan) as collector:
        for visit in plan_walk(plan):
            collector.visit(visit)
        yield from collector.steps()


def write_backward_sql(
    plan: Plan, out: Any, steps: Iterable[MigrationSQL] | None = None
) -> list[MigrationSQL]:
    """Write the backward SQL of ``plan`` in execution order.

    ``steps``: that SQL, already collected (:meth:`BackwardSQL.steps`).
    Returns the steps whose SQL is incomplete (marked), without their lines.
    """
    incomplete = []
    for step in backward_sql(plan) if steps is None else steps:
        out.write("\n".join(step.text()) + "\n")
        if not step.complete:
            incomplete.append(step)
    return incomplete
