"""What every lock-aware gate works with: the ids, the operation in context.

:class:`Context` is one operation of a migration with the project state
before it, the server and the table it works on; it makes the
:class:`~migration_guard.gates.lint.Finding` of a gate, with the hint to
silence it. The helpers read a field's column, type and foreign key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import migrations
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models import Field

from migration_guard.gates.lint import SILENCE_ATTRIBUTE, Finding, describe
from migration_guard.gates.locks.server import Server

INDEX = "migration_guard.W020"
UNIQUE = "migration_guard.W021"
FOREIGN_KEY = "migration_guard.W022"
CHECK = "migration_guard.W023"
REWRITE = "migration_guard.W024"
NOT_NULL = "migration_guard.W025"
COPY = "migration_guard.W030"
COPY_FOREIGN_KEY = "migration_guard.W031"
COPY_CHECK = "migration_guard.W032"

GATE_IDS = (
    INDEX,
    UNIQUE,
    FOREIGN_KEY,
    CHECK,
    REWRITE,
    NOT_NULL,
    COPY,
    COPY_FOREIGN_KEY,
    COPY_CHECK,
)


def silence_hint(check_id: str) -> str:
    return f' Or silence it for this migration: {SILENCE_ATTRIBUTE} = ["{check_id}"].'


def model_name(op: Operation) -> str | None:
    if isinstance(op, migrations.AlterUniqueTogether):
        return str(op.name).lower()
    name = getattr(op, "model_name", None)
    return str(name).lower() if name else None


def table_of(state: ProjectState, app_label: str, model: str) -> str:
    model_state = state.models.get((app_label, model))
    table = model_state.options.get("db_table") if model_state is not None else None
    return str(table or f"{app_label}_{model}")


def column(name: str, field: Field[Any, Any]) -> str:
    if field.db_column:
        return str(field.db_column)
    if field.remote_field is not None and not field.many_to_many:
        return f"{name}_id"
    return name


def db_type(field: Field[Any, Any], connection: Any) -> str | None:
    if field.remote_field is not None:
        return None  # the type follows the target's key; a FK change is W022/W031
    try:
        value = field.db_type(connection)
    except Exception:
        return None
    return str(value).strip().lower() if value else None


def is_fk(field: Field[Any, Any] | None) -> bool:
    return (
        field is not None
        and field.remote_field is not None
        and not field.many_to_many
        and bool(getattr(field, "db_constraint", False))
    )


@dataclass
class Context:
    migration: Migration
    index: int
    op: Operation
    state: ProjectState
    server: Server
    connection: Any
    table: str

    def finding(self, check_id: str, what: str, hint: str) -> Finding:
        return Finding(
            check_id,
            self.migration.app_label,
            self.migration.name,
            self.index,
            f"operations[{self.index}] {describe(self.op)} {what}",
            hint + silence_hint(check_id),
        )

    def old_field(self, model: str, name: str) -> Field[Any, Any] | None:
        model_state = self.state.models.get((self.migration.app_label, model))
        return None if model_state is None else model_state.fields.get(name)
