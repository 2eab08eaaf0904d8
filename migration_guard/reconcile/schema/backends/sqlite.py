"""SQLite: integer keys are rowids, integers one storage, virtual tables.

Every integer primary key is a 64-bit rowid, introspected as AutoField.
Every other integer column (``integer``, ``bigint``, ``smallint``) is stored
the same way (INTEGER affinity): Django's SQLite backend does not rebuild the
tables whose foreign keys point at a key switched from ``AutoField`` to
``BigAutoField``, and there is nothing to rebuild. They are compared as one
type, ``integer``.

A virtual table (``CREATE VIRTUAL TABLE ... USING fts5(...)``) is read as
what it is: its columns have no declared type and it has no keys or indexes
of its own (its shadow tables are ordinary tables).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from migration_guard.compat.backends import light_sqlite_introspection
from migration_guard.reconcile.schema import Column, Schema, Table
from migration_guard.reconcile.schema.backends.base import SchemaBackend

AUTO_TYPES = {"AutoField", "BigAutoField", "SmallAutoField"}
INTEGER_TYPES = {"IntegerField", "BigIntegerField", "SmallIntegerField"}
#: what the integer family is compared as
INTEGER = "integer"

VIRTUAL_TABLES = """
    SELECT name, sql FROM sqlite_master
    WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'
"""
_MODULE = re.compile(r"\busing\s+(\w+)", re.IGNORECASE)


class Backend(SchemaBackend):
    @cached_property
    def introspection(self) -> Any:
        return light_sqlite_introspection(type(self.connection.introspection))(
            self.connection
        )

    def read(self, cursor: Any, names: list[str]) -> Schema:
        cursor.execute(VIRTUAL_TABLES)
        virtual = {name: sql for name, sql in cursor.fetchall()}
        schema = {}
        for name in names:
            if name in virtual:
                schema[name] = self.virtual_table(cursor, name, virtual[name])
            else:
                schema[name] = self.read_table(cursor, name)
        return schema

    def virtual_table(self, cursor: Any, name: str, sql: str) -> Table:
        """Its columns by name only: no type to read, no nullability declared."""
        rows = self.introspection.get_table_description(cursor, name)
        match = _MODULE.search(sql)
        return Table(
            name,
            {row.name: Column(row.name, None, True) for row in rows},
            virtual=match.group(1).lower() if match else "virtual",
        )

    def field_type(self, field_type: str, field: Any) -> str:
        # SQLite's integer primary keys are all 64-bit rowids; Django's
        # introspection reports any of them as AutoField.
        if field.primary_key and field_type in AUTO_TYPES | INTEGER_TYPES:
            return "AutoField"
        return self.live_type(field_type) or field_type

    def live_type(self, field_type: str | None) -> str | None:
        return INTEGER if field_type in INTEGER_TYPES else field_type
