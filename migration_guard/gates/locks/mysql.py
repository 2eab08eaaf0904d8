"""The lock-aware gates of MySQL's and MariaDB's operations (W030-W032).

The InnoDB online DDL pages of both manuals: what needs ALGORITHM=COPY
(writes blocked for the whole copy). :func:`rules` gives the findings of one
operation in its :class:`~.context.Context`.
"""

from __future__ import annotations

import re

from django.db import migrations
from django.db.models import CheckConstraint

from migration_guard.gates.lint import Finding
from migration_guard.gates.locks.context import (
    COPY,
    COPY_CHECK,
    COPY_FOREIGN_KEY,
    Context,
    column,
    db_type,
    is_fk,
)
from migration_guard.gates.locks.server import Server

_VARCHAR = re.compile(r"^varchar\((\d+)\)$")

CHECK_HINT = (
    "Enforce the rule in the application first, and add the constraint in a "
    "maintenance window or with an online schema change tool (gh-ost, "
    "pt-online-schema-change)."
)
COPY_HINT = (
    "Expand and contract instead (add a column of the new type, backfill it in "
    "batches, switch the code, drop the old one), or run the change with an "
    "online schema change tool (gh-ost, pt-online-schema-change)."
)


def fk_hint(table: str) -> str:
    return (
        "Add the field with db_constraint=False, then add the constraint with "
        f"RunSQL: SET foreign_key_checks = 0; ALTER TABLE {table} ADD CONSTRAINT "
        "... FOREIGN KEY ... (ALGORITHM=INPLACE; the existing rows are then not "
        "checked, so check them first)."
    )


def copy_text(c: Context) -> str:
    return (
        f"{c.server.describe()} cannot do it with ALGORITHM=INSTANT or INPLACE: "
        f"it copies the table (ALGORITHM=COPY), blocking writes to {c.table} for "
        "the whole copy."
    )


def mysql_copies(old: str, new: str, server: Server) -> bool:
    """Whether InnoDB needs ALGORITHM=COPY to change a column ``old`` -> ``new``.

    Only a longer VARCHAR goes without a copy: on MariaDB 10.4.3+ always
    (INSTANT), on MySQL (and older MariaDB) while its length prefix stays 1 or
    2 bytes (INPLACE; utf8mb4, 4 bytes a character).
    """
    if old == new:
        return False
    old_varchar, new_varchar = _VARCHAR.match(old), _VARCHAR.match(new)
    if old_varchar and new_varchar:
        before, after = int(old_varchar[1]) * 4, int(new_varchar[1]) * 4  # utf8mb4
        if after < before:
            return True
        if server.mariadb and server.at_least(10, 4, 3):
            return False
        return not (after <= 255 or before > 255)
    return True


def rules(c: Context) -> list[Finding]:
    op = c.op
    if isinstance(op, migrations.AddConstraint) and isinstance(
        op.constraint, CheckConstraint
    ):
        return [
            c.finding(
                COPY_CHECK,
                f"adds check constraint {op.constraint.name} to the existing table "
                f"{c.table}: " + copy_text(c),
                CHECK_HINT,
            )
        ]
    if isinstance(op, migrations.AddField | migrations.AlterField):
        return _field(c, op)
    return []


def _field(
    c: Context, op: migrations.AddField | migrations.AlterField
) -> list[Finding]:
    altered = isinstance(op, migrations.AlterField)
    old = c.old_field(str(op.model_name).lower(), op.name) if altered else None
    if altered and old is None:
        return []
    name, found = column(op.name, op.field), []
    if is_fk(op.field) and not is_fk(old):
        found.append(
            c.finding(
                COPY_FOREIGN_KEY,
                f"adds a foreign key on {c.table}.{name} to the existing "
                f"table {c.table}: with foreign_key_checks on, as Django runs "
                f"it, {copy_text(c)}",
                fk_hint(c.table),
            )
        )
    if old is not None:
        old_type, new_type = db_type(old, c.connection), db_type(op.field, c.connection)
        if old_type and new_type and mysql_copies(old_type, new_type, c.server):
            found.append(
                c.finding(
                    COPY,
                    f"changes {c.table}.{name} from {old_type} to {new_type}: "
                    + copy_text(c),
                    COPY_HINT,
                )
            )
    return found
