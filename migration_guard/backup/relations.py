"""Foreign keys that cross the border of a set of tables, from the catalog.

A plan-scoped backup records them (:mod:`migration_guard.backup.scoped`): a
restore of only those tables must find the rest of the database relating to
them as it did. One catalog query per vendor, whatever the number of tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

Relation = dict[str, str]

_POSTGRESQL = """
SELECT c.conname, t.relname, r.relname,
       (SELECT string_agg(a.attname, ',' ORDER BY k.n)
          FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
       (SELECT string_agg(a.attname, ',' ORDER BY k.n)
          FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum),
       pg_get_constraintdef(c.oid)
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  JOIN pg_class r ON r.oid = c.confrelid
 WHERE c.contype = 'f' AND pg_table_is_visible(t.oid) AND pg_table_is_visible(r.oid)
   AND (t.relname = ANY(%s) OR r.relname = ANY(%s))
"""

_MYSQL = """
SELECT constraint_name, table_name, referenced_table_name,
       GROUP_CONCAT(column_name ORDER BY ordinal_position SEPARATOR ','),
       GROUP_CONCAT(referenced_column_name ORDER BY ordinal_position SEPARATOR ',')
  FROM information_schema.key_column_usage
 WHERE table_schema = DATABASE() AND referenced_table_schema = DATABASE()
   AND referenced_table_name IS NOT NULL
 GROUP BY constraint_name, table_name, referenced_table_name
"""

_SQLITE = """
SELECT m.name, f.id, f."table", group_concat(f."from", ','),
       group_concat(f."to", ',')
  FROM sqlite_master m, pragma_foreign_key_list(m.name) f
 WHERE m.type = 'table'
 GROUP BY m.name, f.id
"""


def outside(connection: BaseDatabaseWrapper, tables: Iterable[str]) -> list[Relation]:
    """The foreign keys with exactly one end among ``tables``, sorted."""
    inside = set(tables)
    found = [
        r
        for r in _foreign_keys(connection, sorted(inside))
        if (r["table"] in inside) != (r["referenced_table"] in inside)
    ]
    return sorted(found, key=lambda r: sorted(r.items()))


def _foreign_keys(connection: BaseDatabaseWrapper, tables: list[str]) -> list[Relation]:
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(_POSTGRESQL, [tables, tables])
            return [_relation(*row) for row in cursor.fetchall()]
        if vendor == "mysql":
            cursor.execute(_MYSQL)
            return [
                _relation(name, table, ref, cols, ref_cols)
                for name, table, ref, cols, ref_cols in cursor.fetchall()
            ]
        if vendor == "sqlite":
            cursor.execute(_SQLITE)
            # SQLite's foreign keys have no names: the ordinal is no better
            return [
                _relation("", table, ref, cols, ref_cols)
                for table, _id, ref, cols, ref_cols in cursor.fetchall()
            ]
    return []


def _relation(
    name: Any, table: Any, referenced: Any, columns: Any, referenced_columns: Any,
    definition: Any = "",
) -> Relation:  # fmt: skip
    return {
        "name": str(name),
        "table": str(table),
        "columns": str(columns or ""),
        "referenced_table": str(referenced),
        "referenced_columns": str(referenced_columns or ""),
        "definition": str(definition or ""),
    }


def describe(relation: Relation) -> str:
    """``the foreign key a.b_id -> b(id)`` for messages."""
    name = f" {relation['name']}" if relation["name"] else ""
    return (
        f"the foreign key{name} {relation['table']}({relation['columns']}) -> "
        f"{relation['referenced_table']}({relation['referenced_columns']})"
    )
