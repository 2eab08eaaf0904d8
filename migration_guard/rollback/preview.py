"""The revert preview: what undoing each migration does, and what it destroys.

For every operation of a backward plan: the effect of undoing it (drop a
table, drop a column, re-add a column...), whether it can be undone at all
(a RunPython/RunSQL without reverse, also nested in
``SeparateDatabaseAndState``, which Django's ``--plan`` misses), no-op
reverses told apart from missing ones, and the data at risk measured on the
live database with read-only ``SELECT count(...)`` queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import truncate_name
from django.db.migrations import operations as ops
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState

from migration_guard.backup.storage import Manifest, get_store
from migration_guard.compat.models import effective_default
from migration_guard.run.planning import (
    Key,
    Plan,
    Reason,
    backward_reasons,
    walk_states,
)


@dataclass
class Risk:
    """Data that undoing an operation destroys or cannot bring back."""

    kind: str  # "table" | "column" | "not-null-readd"
    table: str
    column: str | None = None
    count: int | None = None  # rows (table), non-null values (column)

    def describe(self) -> str:
        if self.kind == "table":
            return f"table {self.table}: {self._n('row')}"
        if self.kind == "column":
            return f"column {self.table}.{self.column}: {self._n('non-null value')}"
        return (
            f"column {self.table}.{self.column} is re-added NOT NULL without a "
            f"default on a table with {self._n('row')}: fails on PostgreSQL and "
            "SQLite, silently fills zeros/empty strings on MySQL/MariaDB"
        )

    def _n(self, noun: str) -> str:
        if self.count is None:
            return f"? {noun}s (table missing)"
        return f"{self.count} {noun}{'s' if self.count != 1 else ''}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table": self.table,
            "column": self.column,
            "count": self.count,
        }


@dataclass
class Effect:
    """Undoing one operation."""

    operation: str  # the operation's own describe()
    undo: str  # what undoing it does
    reversible: bool = True
    noop: bool = False
    risks: list[Risk] = field(default_factory=list)
    nested: bool = False  # inside SeparateDatabaseAndState
    #: what undoing re-creates without its old data ("table t", "column t.c")
    emptied: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "undo": self.undo,
            "reversible": self.reversible,
            "noop": self.noop,
            "nested": self.nested,
            "risks": [risk.as_json() for risk in self.risks],
        }


@dataclass
class MigrationPreview:
    key: Key
    reason: Reason
    atomic: bool
    effects: list[Effect] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.key[0]}.{self.key[1]}"

    @property
    def reversible(self) -> bool:
        return all(effect.reversible for effect in self.effects)

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.key[0],
            "name": self.key[1],
            "reason": self.reason.describe(),
            "chain": [f"{a}.{n}" for a, n in self.reason.chain],
            "reversible": self.reversible,
            "atomic": self.atomic,
            "operations": [effect.as_json() for effect in self.effects],
        }


@dataclass
class Preview:
    plan: Plan
    migrations: list[MigrationPreview]

    @property
    def irreversible(self) -> list[MigrationPreview]:
        return [m for m in self.migrations if not m.reversible]

    @property
    def risks(self) -> list[Risk]:
        return [r for m in self.migrations for e in m.effects for r in e.risks]


def _default_table(app_label: str, name_lower: str, max_length: int) -> str:
    return truncate_name(f"{app_label}_{name_lower}", max_length)


class _Namer:
    """Table and column names from model states, without rendering models."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.max_length = connection.ops.max_name_length() or 200

    def model_state(
        self, state: ProjectState, app_label: str, name: str
    ) -> ModelState | None:
        return state.models.get((app_label, name.lower()))

    def has_table(self, model_state: ModelState) -> bool:
        options = model_state.options
        return not options.get("proxy") and options.get("managed", True)

    def table(self, app_label: str, name: str, options: dict[str, Any]) -> str:
        return options.get("db_table") or _default_table(
            app_label, name.lower(), self.max_length
        )

    def model_table(self, model_state: ModelState) -> str:
        return self.table(model_state.app_label, model_state.name, model_state.options)

    @staticmethod
    def column(name: str, field_obj: models.Field[Any, Any]) -> str:
        clone = field_obj.clone()
        clone.set_attributes_from_name(name)
        return str(clone.column)

    def m2m_table(
        self, table: str, name: str, field_obj: models.Field[Any, Any]
    ) -> str | None:
        """The auto-created through table of an M2M field, None otherwise."""
        if not field_obj.many_to_many or field_obj.remote_field.through:  # type: ignore[union-attr]
            return None
        explicit = getattr(field_obj, "db_table", None)
        return explicit or truncate_name(f"{table}_{name}", self.max_length)


def _readd_fails(field_obj: models.Field[Any, Any]) -> bool:
    """Re-adding this column NOT NULL has no value to put in existing rows."""
    if field_obj.null or field_obj.many_to_many:
        return False
    if getattr(field_obj, "has_db_default", lambda: False)():
        return False
    return effective_default(field_obj) is None


class _Previewer:
    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.namer = _Namer(connection)
        self.pending: list[Risk] = []

    # each returns the effects of undoing ``operation``
    def effects(
        self, app_label: str, operation: Operation, state: ProjectState, nested: bool
    ) -> list[Effect]:
        described = operation.describe()
        if isinstance(operation, ops.SeparateDatabaseAndState):
            inner: list[Effect] = []
            sub = state.clone() if len(operation.database_operations) > 1 else state
            for database_operation in operation.database_operations:
                inner += self.effects(app_label, database_operation, sub, True)
                if sub is not state:
                    database_operation.state_forwards(app_label, sub)
            if not inner:
                return [
                    Effect(described, "Nothing (state only)", noop=True, nested=nested)
                ]
            return inner
        effect = Effect(
            described, "Undo " + described[:1].lower() + described[1:], nested=nested
        )
        effect.reversible = bool(operation.reversible)
        namer = self.namer
        if isinstance(operation, ops.RunPython):
            code = operation.reverse_code
            if code is None:
                effect.undo = "IRREVERSIBLE: RunPython without a reverse function"
            elif code is ops.RunPython.noop:
                effect.undo, effect.noop = "Nothing (reverse is RunPython.noop)", True
            else:
                doc = (code.__doc__ or "").strip().splitlines()
                name = getattr(code, "__name__", repr(code))
                effect.undo = f"Run {name}()" + (f": {doc[0]}" if doc else "")
        elif isinstance(operation, ops.RunSQL):
            reverse = operation.reverse_sql
            if reverse is None:
                effect.undo = "IRREVERSIBLE: RunSQL without reverse_sql"
            elif reverse == ops.RunSQL.noop or reverse == []:
                effect.undo, effect.noop = "Nothing (reverse is RunSQL.noop)", True
            else:
                text = " ".join(str(reverse).split())
                effect.undo = "Run SQL: " + (
                    text[:77] + "..." if len(text) > 80 else text
                )
        elif isinstance(operation, ops.CreateModel):
            if not (
                operation.options.get("proxy")
                or operation.options.get("managed") is False
            ):
                table = namer.table(app_label, operation.name, operation.options)
                effect.undo = f"Drop table {table}"
                effect.risks.append(self.risk("table", table))
                for name, field_obj in operation.fields:
                    through = namer.m2m_table(table, name, field_obj)
                    if through:
                        effect.undo += f" and table {through}"
                        effect.risks.append(self.risk("table", through))
        elif isinstance(operation, ops.DeleteModel):
            model_state = namer.model_state(state, app_label, operation.name)
            if model_state is not None and namer.has_table(model_state):
                effect.undo = (
                    f"Re-create table {namer.model_table(model_state)} empty (the rows "
                    "deleted with it are not brought back)"
                )
                effect.emptied = f"table {namer.model_table(model_state)}"
        elif isinstance(operation, ops.AddField):
            model_state = namer.model_state(state, app_label, operation.model_name)
            if model_state is not None and namer.has_table(model_state):
                table = namer.model_table(model_state)
                through = namer.m2m_table(table, operation.name, operation.field)
                if through:
                    effect.undo = f"Drop table {through}"
                    effect.risks.append(self.risk("table", through))
                else:
                    column = namer.column(operation.name, operation.field)
                    effect.undo = f"Drop column {table}.{column}"
                    effect.risks.append(self.risk("column", table, column))
        elif isinstance(operation, ops.RemoveField):
            model_state = namer.model_state(state, app_label, operation.model_name)
            if model_state is not None and namer.has_table(model_state):
                table = namer.model_table(model_state)
                old = model_state.fields.get(operation.name)
                if old is not None and not old.many_to_many:
                    column = namer.column(operation.name, old)
                    effect.undo = (
                        f"Re-add column {table}.{column} (its old values are not "
                        "brought back)"
                    )
                    effect.emptied = f"column {table}.{column}"
                    if _readd_fails(old):
                        effect.risks.append(self.risk("not-null-readd", table, column))
                elif old is not None:
                    through = namer.m2m_table(table, operation.name, old)
                    effect.undo = f"Re-create table {through} empty"
                    effect.emptied = f"table {through}"
        elif isinstance(operation, ops.AlterField):
            model_state = namer.model_state(state, app_label, operation.model_name)
            if model_state is not None and operation.name in model_state.fields:
                old = model_state.fields[operation.name]
                table = namer.model_table(model_state)
                column = namer.column(operation.name, old)
                effect.undo = (
                    f"Alter column {table}.{column} back to {_field_text(old)}"
                )
        elif isinstance(operation, ops.RenameField):
            effect.undo = (
                f"Rename field {operation.new_name} back to {operation.old_name} on "
                f"{operation.model_name}"
            )
        elif isinstance(operation, ops.RenameModel):
            effect.undo = (
                f"Rename model {operation.new_name} back to {operation.old_name}"
            )
        elif isinstance(operation, ops.AddIndex):
            effect.undo = f"Drop index {operation.index.name}"
        elif isinstance(operation, ops.AddConstraint):
            effect.undo = f"Drop constraint {operation.constraint.name}"
        elif isinstance(operation, ops.RemoveIndex):
            effect.undo = f"Re-create index {operation.name}"
        elif isinstance(operation, ops.RemoveConstraint):
            effect.undo = (
                f"Re-create constraint {operation.name} (fails if rows written "
                "since violate it)"
            )
        if not effect.reversible and not effect.undo.startswith("IRREVERSIBLE"):
            effect.undo = f"IRREVERSIBLE: {described}"
        return [effect]

    def risk(self, kind: str, table: str, column: str | None = None) -> Risk:
        risk = Risk(kind, table, column)
        self.pending.append(risk)
        return risk

    def measure(self) -> None:
        """Fill in the counts with read-only queries on the live database."""
        connection = self.connection
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            tables = set(connection.introspection.table_names(cursor))
            counted: dict[tuple[str, str | None], int] = {}
            for risk in self.pending:
                if risk.table not in tables:
                    continue
                if risk.kind == "column":
                    key: tuple[str, str | None] = (risk.table, risk.column)
                    column = quote(risk.column or "")
                    sql = f"SELECT COUNT({column}) FROM {quote(risk.table)}"
                else:
                    key, sql = (
                        (risk.table, None),
                        f"SELECT COUNT(*) FROM {quote(risk.table)}",
                    )
                if key not in counted:
                    try:
                        cursor.execute(sql)
                    except Exception:  # a column already gone: nothing to lose
                        counted[key] = 0
                    else:
                        counted[key] = int(cursor.fetchone()[0])
                risk.count = counted[key]


def _field_text(field_obj: models.Field[Any, Any]) -> str:
    _name, path, _args, kwargs = field_obj.deconstruct()
    shown = []
    for key in (
        "max_length",
        "max_digits",
        "decimal_places",
        "null",
        "unique",
        "default",
    ):
        if key in kwargs:
            value = kwargs[key]
            text = getattr(value, "__name__", None) if callable(value) else None
            shown.append(f"{key}={text or repr(value)}")
    return f"{path.rsplit('.', 1)[-1]}({', '.join(shown)})"


def build_preview(plan: Plan, *, measure: bool = True) -> Preview:
    """The revert preview of a backward ``plan`` (empty for a forward one)."""
    connection = connections[plan.executor.connection.alias]
    previewer = _Previewer(connection)
    reasons = backward_reasons(plan) if plan.direction == "backwards" else {}
    by_key: dict[Key, MigrationPreview] = {}

    def visit(migration: Migration, operation: Operation, state: ProjectState) -> None:
        key = (migration.app_label, migration.name)
        preview = by_key.get(key)
        if preview is None:
            preview = by_key[key] = MigrationPreview(
                key, reasons.get(key, Reason((key,), "")), migration.atomic
            )
        preview.effects += previewer.effects(
            migration.app_label, operation, state, False
        )

    if plan.direction == "backwards":
        walk_states(plan, on_operation=visit)
        if measure:
            previewer.measure()
    migrations = []
    for step in plan.steps:
        preview = by_key.get(step.key) or MigrationPreview(
            step.key,
            reasons.get(step.key, Reason((step.key,), "")),
            step.migration.atomic,
        )
        preview.effects.reverse()  # undone last operation first
        migrations.append(preview)
    return Preview(plan, migrations)


@dataclass
class Strategy:
    """How the rollback can be done."""

    name: str  # "unapply" | "restore" | "none"
    backup: Manifest | None
    note: str

    def describe(self) -> str:
        if self.name == "restore" and self.backup is not None:
            return f"restore {self.backup.id} ({self.note})"
        return f"{self.name} ({self.note})"


def backups_for(alias: str, applied: set[str]) -> list[Manifest]:
    """Backups of this very database taken when exactly ``applied`` was applied.

    Newest first. Only backups of the database the alias points at now
    (its identity, see :mod:`migration_guard.backup.identity`): another database
    behind the same alias name (a staging copy) is not this one.
    """
    from migration_guard.backup.catalog import backups_of

    return [
        manifest
        for manifest in backups_of(alias, get_store())
        if set(manifest.applied_before) == applied
    ]


def unapply_note(preview: Preview) -> str:
    """Why unapplying does it, and what it does not bring back."""
    emptied = [
        effect.emptied
        for migration in preview.migrations
        for effect in migration.effects
        if effect.emptied
    ]
    dropped = any(
        risk.count != 0 for risk in preview.risks if risk.kind in ("table", "column")
    )
    if not emptied and not dropped:
        return "every operation can be undone"
    note = "every operation has a reverse"
    if emptied:
        note += (
            "; the schema comes back, not the data deleted when the plan was "
            "applied (re-created empty: " + ", ".join(emptied) + ")"
        )
    if dropped:
        note += "; the data at risk above is dropped"
    return note


def choose_strategy(preview: Preview, backups: list[Manifest]) -> Strategy:
    if not preview.migrations:
        return Strategy("none", None, "nothing to undo")
    irreversible = preview.irreversible
    if not irreversible:
        return Strategy("unapply", None, unapply_note(preview))
    names = ", ".join(m.label for m in irreversible)
    if backups:
        return Strategy(
            "restore", backups[0], f"irreversible: {names}; only a restore goes back"
        )
    return Strategy(
        "restore",
        None,
        f"irreversible: {names}, and no backup holds the state to go back to",
    )


def state_after(preview: Preview) -> set[str]:
    """The applied set once the plan is undone."""
    undone = {m.label for m in preview.migrations}
    return {f"{a}.{n}" for a, n in preview.plan.loader.applied_migrations} - undone
