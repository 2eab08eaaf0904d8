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

The statements of a ``RunSQL`` are parsed for the same DDL, with the same ids
(:mod:`.runsql`). One module per idea: :mod:`.server` (the backend and its
version), :mod:`.context` (ids, the operation in context), :mod:`.postgresql`,
:mod:`.mysql`, :mod:`.runsql`; this one walks the history.

tests/test_gates.py checks these rules against the server in use (ALTER TABLE
with ALGORITHM=INPLACE on MySQL/MariaDB, relfilenode on PostgreSQL).

SQLite rebuilds tables for most changes but has one writer at a time anyway:
no gate applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from migration_guard.gates.lint import Finding, silenced_ids
from migration_guard.gates.locks import mysql, postgresql, runsql
from migration_guard.gates.locks.context import (
    GATE_IDS,
    Context,
    model_name,
    table_of,
)
from migration_guard.gates.locks.mysql import mysql_copies
from migration_guard.gates.locks.postgresql import pg_rewrites
from migration_guard.gates.locks.server import Server, server_of
from migration_guard.unwrap import database_operations
from migration_guard.walk import StateWalk

__all__ = [
    "GATE_IDS",
    "Server",
    "gate",
    "gate_migration_operations",
    "history",
    "mysql_copies",
    "pg_rewrites",
    "server_of",
]


def history(
    loader: MigrationLoader, app_labels: Iterable[str]
) -> Iterator[tuple[Migration, int, Operation, ProjectState]]:
    """Each operation of the apps' migrations, with the project state before it.

    The one walk (:class:`migration_guard.walk.StateWalk`) of the graph in
    dependency order (the migrations of other apps they depend on included,
    not reported): the state is built once, not again for each migration. The
    state is live: use it before the next step.
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
    walk = StateWalk(loader, order=[graph.nodes[key] for key in order])
    for visit in walk:
        for index, operation in enumerate(visit.migration.operations):
            if visit.key[0] in wanted:
                yield visit.migration, index, operation, visit.state
            try:
                visit.step()
            except Exception:  # a custom operation this state cannot take
                visit.skip()


def _findings(context: Context, created: set[str]) -> Iterator[Finding]:
    """The findings of one operation (a RunSQL's: of each of its statements)."""
    sql = [
        op
        for op in database_operations(context.op)
        if isinstance(op, migrations.RunSQL)
    ]
    for op in sql:
        yield from runsql.rules(context, op, created)
    if sql or isinstance(context.op, migrations.SeparateDatabaseAndState):
        return
    if model_name(context.op) is None or context.table in created:
        return
    rules = postgresql.rules if context.server.vendor == "postgresql" else mysql.rules
    yield from rules(context)


def _created(migration: Migration, op: Operation) -> set[str]:
    """The tables ``op`` creates: a CreateModel's, a RunSQL's CREATE TABLE."""
    if isinstance(op, migrations.CreateModel):
        table = op.options.get("db_table")
        return {str(table or f"{migration.app_label}_{str(op.name).lower()}")}
    return {
        name
        for inner in database_operations(op)
        for name in runsql.created_tables(inner)
    }


def gate_migration_operations(
    steps: Iterable[tuple[Migration, int, Operation, ProjectState]],
    server: Server,
    connection: Any,
) -> Iterator[Finding]:
    """The findings of the operations ``steps`` (see :func:`history`)."""
    if server.vendor not in ("postgresql", "mysql"):
        return
    created: dict[tuple[str, str], set[str]] = {}
    for migration, index, op, state in steps:
        mine = created.setdefault((migration.app_label, migration.name), set())
        model = model_name(op)
        table = table_of(state, migration.app_label, model) if model else ""
        context = Context(migration, index, op, state, server, connection, table)
        silenced = silenced_ids(migration)
        for finding in _findings(context, mine):
            yield replace(finding, silenced=finding.check_id in silenced)
        mine |= _created(migration, op)


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
