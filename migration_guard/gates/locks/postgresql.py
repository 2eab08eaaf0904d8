"""The lock-aware gates of PostgreSQL's operations (W020-W025).

The rules of the ALTER TABLE and CREATE INDEX reference pages: lock levels,
which type changes rewrite the table, NOT VALID. :func:`rules` gives the
findings of one operation in its :class:`~.context.Context`.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import migrations
from django.db.models import NOT_PROVIDED, CheckConstraint, Field, UniqueConstraint

from migration_guard.gates.lint import Finding
from migration_guard.gates.locks.context import (
    CHECK,
    FOREIGN_KEY,
    INDEX,
    NOT_NULL,
    REWRITE,
    UNIQUE,
    Context,
    column,
    db_type,
    is_fk,
)

_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")

INDEX_HINT = (
    "Build it with CREATE INDEX CONCURRENTLY: "
    "django.contrib.postgres.operations.AddIndexConcurrently in a migration "
    "with atomic = False (for a field, db_index=False on it and an "
    "AddIndexConcurrently of its own)."
)
CHECK_HINT = (
    "Add it with django.contrib.postgres.operations.AddConstraintNotValid, then "
    "ValidateConstraint in a later migration (it takes a SHARE UPDATE EXCLUSIVE "
    "lock only)."
)
REWRITE_HINT = (
    "Expand and contract instead: add a column of the new type, backfill it in "
    "batches, switch the code to it, then drop the old one."
)


def unique_hint(table: str) -> str:
    return (
        "Build the unique index first with CREATE UNIQUE INDEX CONCURRENTLY "
        "(RunSQL in a migration with atomic = False), then attach it with ALTER "
        f"TABLE {table} ADD CONSTRAINT ... UNIQUE USING INDEX ..., the "
        "operation kept as state_operations of a SeparateDatabaseAndState."
    )


def fk_hint(table: str, column: str) -> str:
    return (
        "Add the field with db_constraint=False, then add the constraint in a "
        f"later migration with RunSQL: ALTER TABLE {table} ADD CONSTRAINT ... "
        f"FOREIGN KEY ({column}) REFERENCES ... NOT VALID, then ALTER TABLE "
        f"{table} VALIDATE CONSTRAINT ... (a SHARE UPDATE EXCLUSIVE lock only)."
    )


def not_null_hint(column: str) -> str:
    return (
        f"Add CHECK ({column} IS NOT NULL) NOT VALID, VALIDATE it in a later "
        "migration, then SET NOT NULL (PostgreSQL 12+ trusts the validated check "
        "and skips the scan) and drop the check: RunSQL in a "
        "SeparateDatabaseAndState whose state operation is this AlterField."
    )


def pg_rewrites(old: str, new: str) -> bool:
    """Whether PostgreSQL rewrites the table to change a column ``old`` -> ``new``."""
    if old == new:
        return False
    old_varchar, new_varchar = _VARCHAR.match(old), _VARCHAR.match(new)
    if old_varchar and new_varchar:
        return int(new_varchar[1]) < int(old_varchar[1])
    if old_varchar and new == "text":
        return False
    old_num, new_num = _NUMERIC.match(old), _NUMERIC.match(new)
    if old_num and new_num:
        return not (old_num[2] == new_num[2] and int(new_num[1]) >= int(old_num[1]))
    return True


def rules(c: Context) -> list[Finding]:
    op = c.op
    names = {cls.__name__ for cls in type(op).__mro__}
    if isinstance(op, migrations.AddIndex) and "AddIndexConcurrently" not in names:
        return [
            c.finding(
                INDEX,
                f"builds index {op.index.name} on the existing table {c.table} with "
                f"CREATE INDEX, which blocks writes to {c.table} until the whole "
                "table is indexed.",
                INDEX_HINT,
            )
        ]
    if isinstance(op, migrations.AddConstraint) and "AddConstraintNotValid" not in (
        names
    ):
        return _constraint(c, op.constraint)
    if isinstance(op, migrations.AlterUniqueTogether):
        return _unique_together(c, op)
    if isinstance(op, migrations.AddField):
        return _new_field(c, op.name, op.field, None) + _default_rewrite(c, op)
    if isinstance(op, migrations.AlterField):
        return _alter_field(c, op)
    return []


def _constraint(c: Context, constraint: Any) -> list[Finding]:
    table = c.table
    if isinstance(constraint, UniqueConstraint):
        return [
            c.finding(
                UNIQUE,
                f"adds unique constraint {constraint.name} to the existing "
                f"table {table}: its index is built with writes to {table} "
                "blocked until every row is indexed.",
                unique_hint(table),
            )
        ]
    if isinstance(constraint, CheckConstraint):
        return [
            c.finding(
                CHECK,
                f"adds check constraint {constraint.name} to the existing "
                f"table {table} and checks every row under an ACCESS EXCLUSIVE "
                f"lock (reads and writes of {table} blocked).",
                CHECK_HINT,
            )
        ]
    return []


def _unique_together(c: Context, op: migrations.AlterUniqueTogether) -> list[Finding]:
    model_state = c.state.models.get((c.migration.app_label, str(op.name).lower()))
    before = (
        {tuple(item) for item in (model_state.options.get("unique_together") or ())}
        if model_state is not None
        else set()
    )
    added = {tuple(item) for item in op.option_value or ()} - before
    if not added:
        return []
    columns = ", ".join(sorted("(" + ", ".join(item) + ")" for item in added))
    return [
        c.finding(
            UNIQUE,
            f"adds a unique constraint on {columns} to the existing table "
            f"{c.table}: its index is built with writes to {c.table} blocked "
            "until every row is indexed.",
            unique_hint(c.table),
        )
    ]


def _default_rewrite(c: Context, op: migrations.AddField) -> list[Finding]:
    """W024 before PostgreSQL 11: a column added with a default."""
    if op.field.null or op.field.default is NOT_PROVIDED or c.server.at_least(11):
        return []
    return [
        c.finding(
            REWRITE,
            f"adds {c.table}.{column(op.name, op.field)} with a default: "
            f"{c.server.describe()} (before 11) rewrites the whole table "
            "under an ACCESS EXCLUSIVE lock.",
            "Add it nullable without a default, backfill it in batches, "
            "then set NOT NULL; or upgrade to PostgreSQL 11 or later, "
            "where a constant default needs no rewrite.",
        )
    ]


def _alter_field(c: Context, op: migrations.AlterField) -> list[Finding]:
    old = c.old_field(str(op.model_name).lower(), op.name)
    if old is None:
        return []
    found = _new_field(c, op.name, op.field, old)
    table, name = c.table, column(op.name, op.field)
    old_type, new_type = db_type(old, c.connection), db_type(op.field, c.connection)
    if old_type and new_type and pg_rewrites(old_type, new_type):
        found.append(
            c.finding(
                REWRITE,
                f"changes {table}.{name} from {old_type} to {new_type}: "
                "PostgreSQL rewrites the whole table under an ACCESS "
                f"EXCLUSIVE lock (reads and writes of {table} blocked).",
                REWRITE_HINT,
            )
        )
    if old.null and not op.field.null:
        found.append(
            c.finding(
                NOT_NULL,
                f"makes {table}.{name} NOT NULL: PostgreSQL scans the "
                "whole table to check it under an ACCESS EXCLUSIVE lock "
                f"(reads and writes of {table} blocked).",
                not_null_hint(name),
            )
        )
    return found


def _new_field(
    c: Context, name: str, field: Field[Any, Any], old: Field[Any, Any] | None
) -> list[Finding]:
    """W020-W022 for a field that gains an index, a unique index or a FK."""
    table, col = c.table, column(name, field)
    if is_fk(field) and not is_fk(old):
        return [  # its index goes with it; one finding says it
            c.finding(
                FOREIGN_KEY,
                f"adds a foreign key on {table}.{col} to the existing table "
                f"{table} and validates every row at once, under a SHARE ROW "
                f"EXCLUSIVE lock on {table} and on the referenced table (writes "
                "blocked).",
                fk_hint(table, col),
            )
        ]
    if field.primary_key:
        return []
    unique = field.unique and not (old is not None and old.unique)
    indexed = (
        getattr(field, "db_index", False)
        and not unique
        and not (old is not None and getattr(old, "db_index", False))
    )
    if unique:
        return [
            c.finding(
                UNIQUE,
                f"adds a unique constraint on {table}.{col} to the existing "
                f"table {table}: its index is built with writes to {table} "
                "blocked until every row is indexed.",
                unique_hint(table),
            )
        ]
    if indexed:
        return [
            c.finding(
                INDEX,
                f"builds an index on {table}.{col} of the existing table "
                f"{table} with CREATE INDEX, which blocks writes to {table} until "
                "the whole table is indexed.",
                "Build it with CREATE INDEX CONCURRENTLY: db_index=False on the "
                "field and django.contrib.postgres.operations.AddIndexConcurrently "
                "in a migration with atomic = False.",
            )
        ]
    return []
