"""Lock-aware gates: operations that block a live table, per backend and version.

Each gate has an id (``migration_guard.W020``...), a message naming the operation
and the table, and a hint with the safe alternative; a migration silences one
for itself with ``migration_guard_silence = ["migration_guard.W020"]`` (as for
:mod:`migration_guard.gates.lint`). Only *existing* tables count: a table created
earlier
in the same migration is empty and nobody uses it yet.

PostgreSQL (the ALTER TABLE and CREATE INDEX reference pages):

* W020 an index built without CONCURRENTLY (``AddIndex``, a field's
  ``db_index``): CREATE INDEX holds a SHARE lock, writes wait for the build;
* W021 a unique constraint (``UniqueConstraint``, ``unique=True``,
  ``unique_together``): the same, for its unique index;
* W022 a foreign key added without NOT VALID: validation scans the table
  under SHARE ROW EXCLUSIVE on both tables;
* W023 a check constraint without NOT VALID: ACCESS EXCLUSIVE while every row
  is checked;
* W024 a column type change that rewrites the table (not varchar(n) to a
  longer varchar or text, not numeric(p, s) to a larger p); before 11, also
  a column added with a default;
* W025 NOT NULL added to an existing column: a scan under ACCESS EXCLUSIVE.

MySQL and MariaDB (the InnoDB online DDL pages of both manuals):

* W030 a column type change InnoDB can do neither INSTANT nor INPLACE, so it
  copies the table (ALGORITHM=COPY, writes blocked): every type change except
  a longer VARCHAR (on MariaDB 10.4.3+ always INSTANT; on MySQL while its
  length prefix stays 1 or 2 bytes, utf8mb4: up to 63 / from 64 characters);
* W031 a foreign key added with ``foreign_key_checks`` on (as Django runs
  it): only ALGORITHM=COPY;
* W032 a check constraint added: only ALGORITHM=COPY.

tests/test_gates.py checks these rules against the server in use (ALTER TABLE
with ALGORITHM=INPLACE on MySQL/MariaDB, relfilenode on PostgreSQL).

SQLite rebuilds tables for most changes but has one writer at a time anyway:
no gate applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db import DatabaseError, migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED, CheckConstraint, Field, UniqueConstraint

from migration_guard.gates.lint import (
    SILENCE_ATTRIBUTE,
    Finding,
    describe,
    silenced_ids,
)

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


@dataclass(frozen=True)
class Server:
    """The backend the gates are for: vendor and, when known, server version."""

    vendor: str
    version: tuple[int, ...] | None = None
    mariadb: bool = False

    @property
    def name(self) -> str:
        if self.vendor == "postgresql":
            return "PostgreSQL"
        if self.vendor == "mysql":
            return "MariaDB" if self.mariadb else "MySQL"
        if self.vendor == "sqlite":
            return "SQLite"
        return self.vendor

    def describe(self) -> str:
        if self.version is None:
            return f"{self.name}, version unknown"
        return f"{self.name} {'.'.join(str(part) for part in self.version)}"

    def at_least(self, *version: int) -> bool:
        """Whether the server is ``version`` or newer (unknown: assume it is)."""
        return self.version is None or self.version >= version


def server_of(connection: Any) -> Server:
    """The vendor and version of ``connection``; the version is None offline."""
    vendor = connection.vendor
    try:
        if vendor == "postgresql":
            number = int(connection.pg_version)
            return Server(vendor, (number // 10000, number % 10000))
        if vendor == "mysql":
            return Server(
                vendor,
                tuple(connection.mysql_version),
                bool(connection.mysql_is_mariadb),
            )
        if vendor == "sqlite":
            return Server(vendor, tuple(connection.Database.sqlite_version_info))
    except DatabaseError:
        pass
    except Exception as exc:  # drivers wrap connection errors their own way
        if "connect" not in str(exc).lower():
            raise
    return Server(vendor)


# ---------------------------------------------------------------------------
# The history, operation by operation, with the state before each
# ---------------------------------------------------------------------------


def history(
    loader: MigrationLoader, app_labels: Iterable[str]
) -> Iterator[tuple[Migration, int, Operation, ProjectState]]:
    """Each operation of the apps' migrations, with the project state before it.

    One walk of the graph in dependency order (the migrations of other apps
    they depend on included, not reported): the state is built once, not
    again for each migration. The state is live: use it before the next step.
    """
    wanted = set(app_labels)
    graph = loader.graph
    order: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for leaf in sorted(graph.leaf_nodes()):
        if leaf[0] not in wanted:
            continue
        for key in graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                order.append(key)
    state = ProjectState(real_apps=loader.unmigrated_apps)
    for key in order:
        migration = graph.nodes[key]
        for index, operation in enumerate(migration.operations):
            if key[0] in wanted:
                yield migration, index, operation, state
            try:
                operation.state_forwards(key[0], state)
            except Exception:  # a custom operation this state cannot take
                continue


# ---------------------------------------------------------------------------
# Gates
# ---------------------------------------------------------------------------


def _silence_hint(check_id: str) -> str:
    return f' Or silence it for this migration: {SILENCE_ATTRIBUTE} = ["{check_id}"].'


def _model_name(op: Operation) -> str | None:
    if isinstance(op, migrations.AlterUniqueTogether):
        return str(op.name).lower()
    name = getattr(op, "model_name", None)
    return str(name).lower() if name else None


def _table(state: ProjectState, app_label: str, model: str) -> str:
    model_state = state.models.get((app_label, model))
    table = model_state.options.get("db_table") if model_state is not None else None
    return str(table or f"{app_label}_{model}")


def _column(name: str, field: Field[Any, Any]) -> str:
    if field.db_column:
        return str(field.db_column)
    if field.remote_field is not None and not field.many_to_many:
        return f"{name}_id"
    return name


def _db_type(field: Field[Any, Any], connection: Any) -> str | None:
    if field.remote_field is not None:
        return None  # the type follows the target's key; a FK change is W022/W031
    try:
        value = field.db_type(connection)
    except Exception:
        return None
    return str(value).strip().lower() if value else None


def _is_fk(field: Field[Any, Any] | None) -> bool:
    return (
        field is not None
        and field.remote_field is not None
        and not field.many_to_many
        and bool(getattr(field, "db_constraint", False))
    )


_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")


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


@dataclass
class _Context:
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
            hint + _silence_hint(check_id),
        )

    def old_field(self, model: str, name: str) -> Field[Any, Any] | None:
        model_state = self.state.models.get((self.migration.app_label, model))
        return None if model_state is None else model_state.fields.get(name)


def _postgresql(c: _Context) -> list[Finding]:
    op, table = c.op, c.table
    found: list[Finding] = []
    names = {cls.__name__ for cls in type(op).__mro__}
    index_hint = (
        "Build it with CREATE INDEX CONCURRENTLY: "
        "django.contrib.postgres.operations.AddIndexConcurrently in a migration "
        "with atomic = False (for a field, db_index=False on it and an "
        "AddIndexConcurrently of its own)."
    )
    unique_hint = (
        "Build the unique index first with CREATE UNIQUE INDEX CONCURRENTLY "
        "(RunSQL in a migration with atomic = False), then attach it with ALTER "
        f"TABLE {table} ADD CONSTRAINT ... UNIQUE USING INDEX ..., the "
        "operation kept as state_operations of a SeparateDatabaseAndState."
    )
    if isinstance(op, migrations.AddIndex) and "AddIndexConcurrently" not in names:
        found.append(
            c.finding(
                INDEX,
                f"builds index {op.index.name} on the existing table {table} with "
                f"CREATE INDEX, which blocks writes to {table} until the whole "
                "table is indexed.",
                index_hint,
            )
        )
    elif (
        isinstance(op, migrations.AddConstraint)
        and "AddConstraintNotValid" not in names
    ):
        constraint = op.constraint
        if isinstance(constraint, UniqueConstraint):
            found.append(
                c.finding(
                    UNIQUE,
                    f"adds unique constraint {constraint.name} to the existing "
                    f"table {table}: its index is built with writes to {table} "
                    "blocked until every row is indexed.",
                    unique_hint,
                )
            )
        elif isinstance(constraint, CheckConstraint):
            found.append(
                c.finding(
                    CHECK,
                    f"adds check constraint {constraint.name} to the existing "
                    f"table {table} and checks every row under an ACCESS EXCLUSIVE "
                    f"lock (reads and writes of {table} blocked).",
                    "Add it with django.contrib.postgres.operations."
                    "AddConstraintNotValid, then ValidateConstraint in a later "
                    "migration (it takes a SHARE UPDATE EXCLUSIVE lock only).",
                )
            )
    elif isinstance(op, migrations.AlterUniqueTogether):
        model_state = c.state.models.get((c.migration.app_label, str(op.name).lower()))
        before = (
            {tuple(item) for item in (model_state.options.get("unique_together") or ())}
            if model_state is not None
            else set()
        )
        added = {tuple(item) for item in op.option_value or ()} - before
        if added:
            columns = ", ".join(sorted("(" + ", ".join(item) + ")" for item in added))
            found.append(
                c.finding(
                    UNIQUE,
                    f"adds a unique constraint on {columns} to the existing table "
                    f"{table}: its index is built with writes to {table} blocked "
                    "until every row is indexed.",
                    unique_hint,
                )
            )
    elif isinstance(op, migrations.AddField):
        found += _pg_new_field(c, op.name, op.field, None)
        default = op.field.default
        if (
            not op.field.null
            and default is not NOT_PROVIDED
            and not c.server.at_least(11)
        ):
            found.append(
                c.finding(
                    REWRITE,
                    f"adds {table}.{_column(op.name, op.field)} with a default: "
                    f"{c.server.describe()} (before 11) rewrites the whole table "
                    "under an ACCESS EXCLUSIVE lock.",
                    "Add it nullable without a default, backfill it in batches, "
                    "then set NOT NULL; or upgrade to PostgreSQL 11 or later, "
                    "where a constant default needs no rewrite.",
                )
            )
    elif isinstance(op, migrations.AlterField):
        old = c.old_field(str(op.model_name).lower(), op.name)
        if old is not None:
            found += _pg_new_field(c, op.name, op.field, old)
            column = _column(op.name, op.field)
            old_type, new_type = (
                _db_type(old, c.connection),
                _db_type(op.field, c.connection),
            )
            if old_type and new_type and pg_rewrites(old_type, new_type):
                found.append(
                    c.finding(
                        REWRITE,
                        f"changes {table}.{column} from {old_type} to {new_type}: "
                        "PostgreSQL rewrites the whole table under an ACCESS "
                        f"EXCLUSIVE lock (reads and writes of {table} blocked).",
                        "Expand and contract instead: add a column of the new "
                        "type, backfill it in batches, switch the code to it, "
                        "then drop the old one.",
                    )
                )
            if old.null and not op.field.null:
                found.append(
                    c.finding(
                        NOT_NULL,
                        f"makes {table}.{column} NOT NULL: PostgreSQL scans the "
                        "whole table to check it under an ACCESS EXCLUSIVE lock "
                        f"(reads and writes of {table} blocked).",
                        f"Add CHECK ({column} IS NOT NULL) NOT VALID, VALIDATE it "
                        "in a later migration, then SET NOT NULL (PostgreSQL 12+ "
                        "trusts the validated check and skips the scan) and drop "
                        "the check: RunSQL in a SeparateDatabaseAndState whose "
                        "state operation is this AlterField.",
                    )
                )
    return found


def _pg_new_field(
    c: _Context, name: str, field: Field[Any, Any], old: Field[Any, Any] | None
) -> list[Finding]:
    """W020-W022 for a field that gains an index, a unique index or a FK."""
    table, column, found = c.table, _column(name, field), []
    if _is_fk(field) and not _is_fk(old):
        found.append(
            c.finding(
                FOREIGN_KEY,
                f"adds a foreign key on {table}.{column} to the existing table "
                f"{table} and validates every row at once, under a SHARE ROW "
                f"EXCLUSIVE lock on {table} and on the referenced table (writes "
                "blocked).",
                "Add the field with db_constraint=False, then add the constraint "
                f"in a later migration with RunSQL: ALTER TABLE {table} ADD "
                f"CONSTRAINT ... FOREIGN KEY ({column}) REFERENCES ... NOT VALID, "
                f"then ALTER TABLE {table} VALIDATE CONSTRAINT ... (a SHARE UPDATE "
                "EXCLUSIVE lock only).",
            )
        )
        return found  # its index goes with it; one finding says it
    if field.primary_key:
        return found
    unique = field.unique and not (old is not None and old.unique)
    indexed = (
        getattr(field, "db_index", False)
        and not unique
        and not (old is not None and getattr(old, "db_index", False))
    )
    if unique:
        found.append(
            c.finding(
                UNIQUE,
                f"adds a unique constraint on {table}.{column} to the existing "
                f"table {table}: its index is built with writes to {table} "
                "blocked until every row is indexed.",
                "Build the unique index first with CREATE UNIQUE INDEX "
                "CONCURRENTLY (RunSQL in a migration with atomic = False), then "
                f"attach it with ALTER TABLE {table} ADD CONSTRAINT ... UNIQUE "
                "USING INDEX ..., the operation kept as state_operations of a "
                "SeparateDatabaseAndState.",
            )
        )
    elif indexed:
        found.append(
            c.finding(
                INDEX,
                f"builds an index on {table}.{column} of the existing table "
                f"{table} with CREATE INDEX, which blocks writes to {table} until "
                "the whole table is indexed.",
                "Build it with CREATE INDEX CONCURRENTLY: db_index=False on the "
                "field and django.contrib.postgres.operations.AddIndexConcurrently "
                "in a migration with atomic = False.",
            )
        )
    return found


def _mysql(c: _Context) -> list[Finding]:
    op, table = c.op, c.table
    found: list[Finding] = []
    fk_hint = (
        "Add the field with db_constraint=False, then add the constraint with "
        f"RunSQL: SET foreign_key_checks = 0; ALTER TABLE {table} ADD CONSTRAINT "
        "... FOREIGN KEY ... (ALGORITHM=INPLACE; the existing rows are then not "
        "checked, so check them first)."
    )
    copy_text = (
        f"{c.server.describe()} cannot do it with ALGORITHM=INSTANT or INPLACE: "
        f"it copies the table (ALGORITHM=COPY), blocking writes to {table} for "
        "the whole copy."
    )
    if isinstance(op, migrations.AddConstraint) and isinstance(
        op.constraint, CheckConstraint
    ):
        found.append(
            c.finding(
                COPY_CHECK,
                f"adds check constraint {op.constraint.name} to the existing table "
                f"{table}: " + copy_text,
                "Enforce the rule in the application first, and add the "
                "constraint in a maintenance window or with an online schema "
                "change tool (gh-ost, pt-online-schema-change).",
            )
        )
    if isinstance(op, migrations.AddField | migrations.AlterField):
        old = (
            c.old_field(str(op.model_name).lower(), op.name)
            if isinstance(op, migrations.AlterField)
            else None
        )
        column = _column(op.name, op.field)
        if _is_fk(op.field) and not _is_fk(old):
            if isinstance(op, migrations.AlterField) and old is None:
                return found
            found.append(
                c.finding(
                    COPY_FOREIGN_KEY,
                    f"adds a foreign key on {table}.{column} to the existing "
                    f"table {table}: with foreign_key_checks on, as Django runs "
                    f"it, {copy_text}",
                    fk_hint,
                )
            )
        if isinstance(op, migrations.AlterField) and old is not None:
            old_type = _db_type(old, c.connection)
            new_type = _db_type(op.field, c.connection)
            if old_type and new_type and mysql_copies(old_type, new_type, c.server):
                found.append(
                    c.finding(
                        COPY,
                        f"changes {table}.{column} from {old_type} to {new_type}: "
                        + copy_text,
                        "Expand and contract instead (add a column of the new "
                        "type, backfill it in batches, switch the code, drop the "
                        "old one), or run the change with an online schema change "
                        "tool (gh-ost, pt-online-schema-change).",
                    )
                )
    return found


_CREATED = (migrations.CreateModel,)


def gate_migration_operations(
    steps: Iterable[tuple[Migration, int, Operation, ProjectState]],
    server: Server,
    connection: Any,
) -> Iterator[Finding]:
    """The findings of the operations ``steps`` (see :func:`history`)."""
    if server.vendor not in ("postgresql", "mysql"):
        return
    rules = _postgresql if server.vendor == "postgresql" else _mysql
    created: dict[tuple[str, str], set[str]] = {}
    for migration, index, op, state in steps:
        key = (migration.app_label, migration.name)
        mine = created.setdefault(key, set())
        if isinstance(op, _CREATED):
            mine.add(str(op.name).lower())
            continue
        model = _model_name(op)
        if model is None or model in mine:
            continue
        table = _table(state, migration.app_label, model)
        context = _Context(migration, index, op, state, server, connection, table)
        silenced = silenced_ids(migration)
        for finding in rules(context):
            yield replace(finding, silenced=finding.check_id in silenced)


def gate(
    loader: MigrationLoader,
    app_labels: Iterable[str],
    server: Server,
    connection: Any,
    *,
    include_silenced: bool = False,
) -> list[Finding]:
    """The lock-aware findings of the apps' migrations for ``server``."""
    return [
        finding
        for finding in gate_migration_operations(
            history(loader, app_labels), server, connection
        )
        if include_silenced or not finding.silenced
    ]
