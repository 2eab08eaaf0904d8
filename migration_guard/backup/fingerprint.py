"""What a restore must bring back: the schema as Django sees it, and the rows.

A backup's manifest records, when it is taken:

* a schema fingerprint: per table, a digest of its columns and constraints
  as Django's introspection reports them (catalog queries only, no scan);
* the rows per table, read from the backup file itself (the dump stream;
  :meth:`~migration_guard.backup.base.BackupBackend.read_rows`), not from the
  database;
* on MySQL/MariaDB, the CHECK constraints by name: mariadb-dump prints a
  column's CHECK inline, without its name, so a check whose name is not its
  column's (a JSONField whose column was renamed) comes back under the
  column's name, and Django then reads the TextField as a JSONField.

After a restore the same are read from the database and compared; the
MariaDB check names are repaired; any other difference fails the restore.
The ledger's rows are not compared (a restore merges them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Collection
from typing import Any

from django.db import connections

from migration_guard.backup.base import RESTORE_MARKER_TABLE
from migration_guard.models import MigrationRun

#: tables whose rows a restore changes on purpose
NOT_COUNTED = (MigrationRun._meta.db_table,)
#: tables migration_guard keeps during a restore only (the crash-recovery marker
#: that says a MySQL load is in progress): neither in a backup nor compared
NOT_COMPARED = (RESTORE_MARKER_TABLE,)


def _tables(alias: str, only: Collection[str] | None = None) -> list[str]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        return sorted(
            info.name
            for info in connection.introspection.get_table_list(cursor)
            if info.type == "t"
            and info.name not in NOT_COMPARED
            and (only is None or info.name in only)
        )


def schema(alias: str, only: Collection[str] | None = None) -> dict[str, str]:
    """A digest per table of its columns and constraints (catalog reads only);
    ``only``: of those tables (a plan-scoped backup's).

    The tables as :func:`migration_guard.reconcile.schema.introspect.snapshot` reads
    them
    (batched catalog queries, the field classes Django's introspection
    reports, check constraints by name), each element by what it compares.
    """
    from migration_guard.reconcile.schema import elements
    from migration_guard.reconcile.schema.introspect import snapshot

    tables = snapshot(connections[alias], _tables(alias, only))
    digests = {}
    for name, table in sorted(tables.items()):
        parts = sorted(
            f"{key!r}={_compared(value)!r}" for key, value in elements(table)
        )
        parts.append(f"primary key {table.primary_key!r}")
        text = "\n".join(parts)
        digests[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return digests


def _compared(value: Any) -> Any:
    """What a comparison of ``value`` looks at (not its message-only fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(
            getattr(value, f.name) for f in dataclasses.fields(value) if f.compare
        )
    return value


def mysql_checks(alias: str) -> dict[str, dict[str, str]]:
    """``{table: {check name: clause}}`` of a MySQL/MariaDB database."""
    connection = connections[alias]
    if connection.vendor != "mysql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE "
            "FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME"
        )
        found: dict[str, dict[str, str]] = {}
        for table, name, clause in cursor.fetchall():
            found.setdefault(str(table), {})[str(name)] = str(clause)
    return found


def _quote(alias: str, name: str) -> str:
    return str(connections[alias].ops.quote_name(name))


def live_rows(alias: str, tables: list[str]) -> dict[str, int]:
    """``count(*)`` of each of ``tables`` that exists (PostgreSQL: schema.table)."""
    connection = connections[alias]
    existing = set(_tables(alias))
    counts = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p')"
            )
            existing = {row[0] for row in cursor.fetchall()}
        for table in tables:
            if table not in existing:
                continue
            quoted = ".".join(
                _quote(alias, part)
                for part in (
                    table.split(".", 1)
                    if connection.vendor == "postgresql"
                    else [table]
                )
            )
            cursor.execute(f"SELECT count(*) FROM {quoted}")
            counts[table] = int(cursor.fetchone()[0])
    return counts


def repair_mysql_checks(alias: str, recorded: dict[str, dict[str, str]]) -> list[str]:
    """Give CHECK constraints back the names they had; the statements run.

    A check the dump printed inline came back named after its column: it is
    moved off the column (``MODIFY COLUMN`` with the column's definition
    without it) and added under its recorded name.
    """
    live = mysql_checks(alias)
    connection = connections[alias]
    done = []
    for table, checks in sorted(recorded.items()):
        now = live.get(table, {})
        for name, clause in sorted(checks.items()):
            if name in now:
                continue
            renamed = [
                other
                for other, text in now.items()
                if text == clause and other not in checks
            ]
            if len(renamed) != 1:
                continue
            definition = _column_without_check(alias, table, renamed[0], clause)
            if definition is None:
                continue
            statement = (
                f"ALTER TABLE {_quote(alias, table)} MODIFY COLUMN {definition}, "
                f"ADD CONSTRAINT {_quote(alias, name)} CHECK ({clause})"
            )
            with connection.cursor() as cursor:
                cursor.execute(statement)
            done.append(statement)
    return done


def _column_without_check(
    alias: str, table: str, column: str, clause: str
) -> str | None:
    """The definition of ``column`` from SHOW CREATE TABLE, minus its CHECK."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SHOW CREATE TABLE {_quote(alias, table)}")
        create = str(cursor.fetchone()[1])
    prefix = _quote(alias, column) + " "
    suffix = f" CHECK ({clause})"
    for line in create.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith(prefix) and line.endswith(suffix):
            return line[: -len(suffix)]
    return None


def differences(
    recorded_schema: dict[str, str],
    recorded_rows: dict[str, int],
    schema_now: dict[str, str],
    rows_now: dict[str, int],
) -> list[str]:
    """What differs between a backup's record and the restored database."""
    problems = []
    for table in sorted(set(recorded_schema) | set(schema_now)):
        if table not in schema_now:
            problems.append(f"table {table} is missing")
        elif table not in recorded_schema:
            problems.append(f"table {table} is not in the backup")
        elif recorded_schema[table] != schema_now[table]:
            problems.append(f"table {table} has other columns or constraints")
    for table, count in sorted(recorded_rows.items()):
        if _bare(table) in NOT_COUNTED:
            continue
        now = rows_now.get(table)
        if now is not None and now != count:
            problems.append(f"table {table} has {now} rows, the backup {count}")
    return problems


def _bare(table: str) -> str:
    return re.sub(r"^[^.]+\.", "", table) if "." in table else table
