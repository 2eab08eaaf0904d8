"""PostgreSQL: ``_like`` twins, type names, definitions of expression indexes."""

from __future__ import annotations

from typing import Any

from migration_guard.reconcile.schema import Definition, Schema, Table
from migration_guard.reconcile.schema.backends import postgresql_catalog
from migration_guard.reconcile.schema.backends.base import SchemaBackend
from migration_guard.reconcile.schema.types import normalise_definition


class Backend(SchemaBackend):
    def read(self, cursor: Any, names: list[str]) -> Schema:
        # Four catalog queries for all tables instead of four per table.
        return postgresql_catalog.read(self, cursor, names)

    def read_table(self, cursor: Any, name: str) -> Table:
        table = super().read_table(cursor, name)
        found = postgresql_catalog.definitions(cursor, [name])
        table.definitions = found.get(name, {})
        return table

    def raw_types(self, cursor: Any, name: str) -> dict[str, str]:
        return postgresql_catalog.raw_types(cursor, [name]).get(name, {})

    def skip_constraint(self, name: str, info: dict[str, Any]) -> bool:
        # varchar_pattern_ops / text_pattern_ops twins of an index or unique
        # constraint on a text column, named "<table>_<column>_<hash>_like".
        return (
            name.endswith("_like")
            and bool(info.get("index"))
            and not info.get("unique")
            and not info.get("primary_key")
        )

    def field_indexed(self, field: Any) -> bool:
        # PostGIS indexes a geometry or geography column (GiST) by itself; a
        # raster's index is on an expression (ST_ConvexHull), not the column
        if getattr(field, "spatial_index", False) and hasattr(field, "geodetic"):
            return getattr(field, "geom_type", "") != "RASTER"
        return bool(field.db_index)

    def definitions(self, model: Any, table: Table) -> dict[str, Definition]:
        """Indexes and unique constraints on expressions, exclusion constraints.

        By the SQL Django's schema editor emits for them (nothing is
        executed); one whose SQL cannot be made here is left out (not
        verified) rather than reported.
        """
        opts = model._meta
        wanted = [index for index in opts.indexes if index.contains_expressions]
        wanted += [
            constraint
            for constraint in opts.constraints
            if getattr(constraint, "contains_expressions", False)
            or type(constraint).__name__ == "ExclusionConstraint"
        ]
        if not wanted:
            return {}
        editor = self.connection.schema_editor(collect_sql=True)
        found = {}
        for item in wanted:
            try:
                sql = str(item.create_sql(model, editor))
            except Exception:  # an expression the stand-in cannot compile
                continue
            found[item.name] = Definition(normalise_definition(sql), sql)
        return found
