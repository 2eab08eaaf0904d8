"""The live schema, read through ``connection.introspection``.

:func:`snapshot` returns a normalized :data:`~migration_guard.reconcile.schema.Schema`
of the
tables asked for. Field classes come from ``introspection.get_field_type`` and
sizes as ``inspectdb`` reads them, so both sides of a comparison speak Django's
terms. Foreign keys are read from ``get_constraints`` (which reports the
referenced table and column on every backend), not ``get_relations``, whose
shape changed in Django 6.1. What differs between backends (generated or
invented constraint names, helper indexes, catalog queries that read every
table at once) lives in :mod:`migration_guard.reconcile.schema.backends`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migration_guard.reconcile.schema import Column, ForeignKey, Schema, Table
from migration_guard.reconcile.schema.backends import backend_for


def table_names(connection: Any) -> set[str]:
    """The base tables of the database (views left out)."""
    with connection.cursor() as cursor:
        return {
            info.name
            for info in connection.introspection.get_table_list(cursor)
            if info.type in ("t", "p")
        }


def snapshot(connection: Any, tables: Iterable[str] | None = None) -> Schema:
    """The live schema of ``tables`` that exist (all base tables for ``None``)."""
    existing = table_names(connection)
    names = existing if tables is None else existing & set(tables)
    if not names:
        return {}
    backend = backend_for(connection)
    with connection.cursor() as cursor:
        return backend.read(cursor, sorted(names))


def column_from(
    backend: Any, row: Any, pk_columns: tuple[str, ...], raw_type: str | None
) -> Column:
    """A :class:`Column` from a ``get_table_description`` row, as inspectdb reads it.

    ``raw_type`` is the database's own name of the type (SQLite's declared
    type is the row's ``type_code``); a type Django's introspection does not
    map has no field class, and is compared by that name.
    """
    connection = backend.connection
    introspection = connection.introspection
    try:
        field_type: str | None = introspection.get_field_type(row.type_code, row)
    except KeyError:
        field_type = None
    if raw_type is None and isinstance(row.type_code, str):
        raw_type = row.type_code
    max_length = precision = scale = None
    if field_type == "CharField" and row.display_size and int(row.display_size) > 0:
        max_length = int(row.display_size)
    elif field_type == "DecimalField":
        precision, scale = row.precision, row.scale
    return Column(
        name=row.name,
        type=backend.live_type(field_type),
        null=bool(row.null_ok),
        max_length=max_length,
        precision=precision,
        scale=scale,
        primary_key=pk_columns == (row.name,),
        db_type=backend.normalise_type(raw_type) or None,
    )


def primary_key_of(constraints: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    for info in constraints.values():
        if info.get("primary_key"):
            return tuple(info.get("columns") or ())
    return ()


def table_from(
    name: str,
    columns: list[Column],
    constraints: dict[str, dict[str, Any]],
    *,
    skip: Any = None,
    implied: Any = None,
) -> Table:
    """A :class:`Table` from columns and a ``get_constraints`` result.

    ``skip(name, info)`` drops constraints a backend adds on its own;
    ``implied(name, info)`` marks indexes the database keeps for a foreign key
    (an index reported under the foreign key's own name is one too).
    """
    table = Table(name, {column.name: column for column in columns})
    table.primary_key = primary_key_of(constraints)
    for constraint, info in constraints.items():
        if skip is not None and skip(constraint, info):
            continue
        cols = tuple(info.get("columns") or ())
        if info.get("check") and not info.get("unique") and not info.get("index"):
            table.checks.add(constraint)
            continue
        if not cols or None in cols:
            continue  # an expression index
        if info.get("foreign_key"):
            to_table, to_column = info["foreign_key"][:2]
            table.foreign_keys[cols[0]] = ForeignKey(cols[0], to_table, to_column)
            if info.get("index"):  # InnoDB's own index, named after the key
                table.implied_indexes.add(cols)
        elif info.get("primary_key"):
            continue
        elif info.get("unique"):
            table.uniques.add(cols)
        elif info.get("index"):
            if implied is not None and implied(constraint, info):
                table.implied_indexes.add(cols)
            else:
                table.indexes.add(cols)
    return table


class CachedSnapshots:
    """Live snapshots, with SQLite tables read once per distinct definition.

    SQLite keeps the full definition of each table and index as SQL text in
    ``sqlite_master``, and everything introspection reports derives from it;
    reading that text is one query, where introspecting a table parses it
    several times. A table whose definition text was introspected before is
    taken from the cache; so a table a backward step puts back exactly as
    it was costs nothing to compare.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cache: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def definitions(self, tables: set[str] | None) -> dict[str, tuple[Any, ...]]:
        found: dict[str, list[tuple[Any, ...]]] = {}
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT tbl_name, type, name, sql FROM sqlite_master "
                "WHERE type IN ('table', 'index')"
            )
            for table, *rest in cursor.fetchall():
                if table.startswith("sqlite_"):
                    continue
                if tables is None or table in tables:
                    found.setdefault(table, []).append(tuple(rest))
        return {
            table: tuple(sorted(rows, key=repr))
            for table, rows in found.items()
            if any(row[0] == "table" for row in rows)
        }

    def take(self, tables: set[str] | None) -> Schema:
        if self.connection.vendor != "sqlite":
            return snapshot(self.connection, tables)
        definitions = self.definitions(tables)
        missing = [t for t, d in definitions.items() if (t, d) not in self.cache]
        if missing:
            for name, table in snapshot(self.connection, missing).items():
                self.cache[(name, definitions[name])] = table
        return {
            name: self.cache[(name, definition)]
            for name, definition in definitions.items()
            if (name, definition) in self.cache
        }
