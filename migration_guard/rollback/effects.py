"""What undoing one operation does, and the data it destroys.

For each operation of a backward plan: the effect of undoing it (drop a
table, drop a column, re-add a column...), whether it can be undone at all
(a ``RunPython``/``RunSQL`` without reverse, also nested in
``SeparateDatabaseAndState``, which Django's ``--plan`` misses), no-op
reverses told apart from missing ones, and the data at risk, measured on the
live database with read-only ``SELECT count(...)`` queries. Table and column
names come from the unrendered model states of the walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import truncate_name
from django.db.migrations import operations as ops
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState

from migration_guard.compat.models import effective_default
from migration_guard.unwrap import database_operations


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


class Previewer:
    """The effects of undoing operations, and the risks to measure afterwards."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.namer = _Namer(connection)
        self.pending: list[Risk] = []

    def effects(
        self, app_label: str, operation: Operation, state: ProjectState, nested: bool
    ) -> list[Effect]:
        """The effects of undoing ``operation``; ``state`` is the state before it."""
        if isinstance(operation, ops.SeparateDatabaseAndState):
            return self._separate(app_label, operation, state, nested)
        described = operation.describe()
        effect = Effect(
            described, "Undo " + described[:1].lower() + described[1:], nested=nested
        )
        effect.reversible = bool(operation.reversible)
        code = _code_undo(operation)
        if code is not None:
            effect.undo, effect.noop = code
        else:
            self._schema_undo(effect, app_label, operation, state)
        if not effect.reversible and not effect.undo.startswith("IRREVERSIBLE"):
            effect.undo = f"IRREVERSIBLE: {described}"
        return [effect]

    def _schema_undo(
        self, effect: Effect, app_label: str, operation: Operation, state: ProjectState
    ) -> None:
        """What undoing a schema operation does, named from the state before it."""
        for kind, describe in _UNDO:
            if isinstance(operation, kind):
                describe(self, effect, app_label, operation, state)
                return
        effect.undo = _simple_undo(operation) or effect.undo

    def _separate(
        self,
        app_label: str,
        operation: ops.SeparateDatabaseAndState,
        state: ProjectState,
        nested: bool,
    ) -> list[Effect]:
        """What its database operations undo, each on the state the one before left."""
        inner = list(database_operations(operation))
        sub = state.clone() if len(inner) > 1 else state
        found: list[Effect] = []
        for database_operation in inner:
            found += self.effects(app_label, database_operation, sub, True)
            if sub is not state:
                database_operation.state_forwards(app_label, sub)
        if not found:
            return [
                Effect(
                    operation.describe(),
                    "Nothing (state only)",
                    noop=True,
                    nested=nested,
                )
            ]
        return found

    def _table(
        self, state: ProjectState, app_label: str, name: str
    ) -> tuple[ModelState, str] | None:
        """The model state of ``app_label.name`` and its table, if it has one."""
        model_state = self.namer.model_state(state, app_label, name)
        if model_state is None or not self.namer.has_table(model_state):
            return None
        return model_state, self.namer.model_table(model_state)

    def _create_model(
        self, effect: Effect, app_label: str, operation: Any, state: ProjectState
    ) -> None:
        options = operation.options
        if options.get("proxy") or options.get("managed") is False:
            return
        table = self.namer.table(app_label, operation.name, options)
        effect.undo = f"Drop table {table}"
        effect.risks.append(self.risk("table", table))
        for name, field_obj in operation.fields:
            through = self.namer.m2m_table(table, name, field_obj)
            if through:
                effect.undo += f" and table {through}"
                effect.risks.append(self.risk("table", through))

    def _delete_model(
        self, effect: Effect, app_label: str, operation: Any, state: ProjectState
    ) -> None:
        found = self._table(state, app_label, operation.name)
        if found is not None:
            table = found[1]
            effect.undo = (
                f"Re-create table {table} empty (the rows deleted with it are not "
                "brought back)"
            )
            effect.emptied = f"table {table}"

    def _add_field(
        self, effect: Effect, app_label: str, operation: Any, state: ProjectState
    ) -> None:
        namer, found = self.namer, self._table(state, app_label, operation.model_name)
        if found is None:
            return
        table = found[1]
        through = namer.m2m_table(table, operation.name, operation.field)
        if through:
            effect.undo = f"Drop table {through}"
            effect.risks.append(self.risk("table", through))
        else:
            column = namer.column(operation.name, operation.field)
            effect.undo = f"Drop column {table}.{column}"
            effect.risks.append(self.risk("column", table, column))

    def _remove_field(
        self, effect: Effect, app_label: str, operation: Any, state: ProjectState
    ) -> None:
        namer, found = self.namer, self._table(state, app_label, operation.model_name)
        if found is None:
            return
        model_state, table = found
        old = model_state.fields.get(operation.name)
        if old is not None and not old.many_to_many:
            column = namer.column(operation.name, old)
            effect.undo = (
                f"Re-add column {table}.{column} (its old values are not brought back)"
            )
            effect.emptied = f"column {table}.{column}"
            if _readd_fails(old):
                effect.risks.append(self.risk("not-null-readd", table, column))
        elif old is not None:
            through = namer.m2m_table(table, operation.name, old)
            effect.undo = f"Re-create table {through} empty"
            effect.emptied = f"table {through}"

    def _alter_field(
        self, effect: Effect, app_label: str, operation: Any, state: ProjectState
    ) -> None:
        namer = self.namer
        model_state = namer.model_state(state, app_label, operation.model_name)
        if model_state is not None and operation.name in model_state.fields:
            old = model_state.fields[operation.name]
            table = namer.model_table(model_state)
            column = namer.column(operation.name, old)
            effect.undo = f"Alter column {table}.{column} back to {_field_text(old)}"

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


def _code_undo(operation: Operation) -> tuple[str, bool] | None:
    """What undoing a ``RunPython`` or ``RunSQL`` runs, and whether that is nothing."""
    if isinstance(operation, ops.RunPython):
        code = operation.reverse_code
        if code is None:
            return "IRREVERSIBLE: RunPython without a reverse function", False
        if code is ops.RunPython.noop:
            return "Nothing (reverse is RunPython.noop)", True
        doc = (code.__doc__ or "").strip().splitlines()
        name = getattr(code, "__name__", repr(code))
        return f"Run {name}()" + (f": {doc[0]}" if doc else ""), False
    if isinstance(operation, ops.RunSQL):
        reverse = operation.reverse_sql
        if reverse is None:
            return "IRREVERSIBLE: RunSQL without reverse_sql", False
        if reverse == ops.RunSQL.noop or reverse == []:
            return "Nothing (reverse is RunSQL.noop)", True
        text = " ".join(str(reverse).split())
        return "Run SQL: " + (text[:77] + "..." if len(text) > 80 else text), False
    return None


Undo = Callable[[Previewer, Effect, str, Any, ProjectState], None]

#: how to tell what undoing each kind of operation does
_UNDO: tuple[tuple[type[Operation], Undo], ...] = (
    (ops.CreateModel, Previewer._create_model),
    (ops.DeleteModel, Previewer._delete_model),
    (ops.AddField, Previewer._add_field),
    (ops.RemoveField, Previewer._remove_field),
    (ops.AlterField, Previewer._alter_field),
)


def _simple_undo(operation: Operation) -> str | None:
    """What undoing an operation that names everything it changes does."""
    if isinstance(operation, ops.RenameField):
        return (
            f"Rename field {operation.new_name} back to {operation.old_name} on "
            f"{operation.model_name}"
        )
    if isinstance(operation, ops.RenameModel):
        return f"Rename model {operation.new_name} back to {operation.old_name}"
    if isinstance(operation, ops.AddIndex):
        return f"Drop index {operation.index.name}"
    if isinstance(operation, ops.AddConstraint):
        return f"Drop constraint {operation.constraint.name}"
    if isinstance(operation, ops.RemoveIndex):
        return f"Re-create index {operation.name}"
    if isinstance(operation, ops.RemoveConstraint):
        return (
            f"Re-create constraint {operation.name} (fails if rows written since "
            "violate it)"
        )
    return None


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
