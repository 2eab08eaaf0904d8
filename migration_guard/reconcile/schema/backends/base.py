"""What every schema backend does, through Django's per-table introspection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migration_guard.reconcile.schema import Definition, Schema, Table
from migration_guard.reconcile.schema.types import normalise_type


class SchemaBackend:
    """Reads tables and knows how a field class shows up on this backend.

    The generic reader calls ``get_table_description`` and ``get_constraints``
    per table; backends whose catalogs can answer for all tables at once
    override :meth:`read`.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def read(self, cursor: Any, names: list[str]) -> Schema:
        return {name: self.read_table(cursor, name) for name in names}

    @property
    def introspection(self) -> Any:
        """The introspection the per-table reader uses (Django's)."""
        return self.connection.introspection

    def read_table(self, cursor: Any, name: str) -> Table:
        introspection = self.introspection
        constraints = introspection.get_constraints(cursor, name)
        rows = introspection.get_table_description(cursor, name)
        return self.table(name, rows, constraints, self.raw_types(cursor, name))

    def raw_types(self, cursor: Any, name: str) -> dict[str, str]:
        """Column -> the database's own type name, where rows do not carry it."""
        return {}

    def table(
        self,
        name: str,
        rows: Iterable[Any],
        constraints: dict[str, dict[str, Any]],
        raw_types: dict[str, str] | None = None,
        definitions: dict[str, Definition] | None = None,
    ) -> Table:
        """A :class:`Table` from ``get_table_description`` rows and constraints.

        The per-table reader and the batched catalog readers both end here,
        so a table reads the same whichever way its rows were fetched.
        """
        from migration_guard.reconcile.schema.introspect import (
            column_from,
            primary_key_of,
            table_from,
        )

        pk = primary_key_of(constraints)
        raw = raw_types or {}
        table = table_from(
            name,
            [column_from(self, row, pk, raw.get(row.name)) for row in rows],
            constraints,
            skip=self.skip_constraint,
            implied=self.implied_index,
        )
        table.definitions = dict(definitions or {})
        return table

    def skip_constraint(self, name: str, info: dict[str, Any]) -> bool:
        """Constraints the backend made on its own, not from a model.

        Unnamed CHECKs (inline ones of positive integers and JSON columns)
        get invented names from Django's introspection; unnamed unique
        constraints are kept (their name plays no part).
        """
        return name.startswith("__unnamed_constraint_") and bool(info.get("check"))

    def implied_index(self, name: str, info: dict[str, Any]) -> bool:
        """Indexes the database keeps because of a foreign key."""
        return False

    def field_type(self, field_type: str, field: Any) -> str:
        """The class introspection reports for ``field``, given its mapped class."""
        return field_type

    def field_indexed(self, field: Any) -> bool:
        """Whether the schema editor indexes ``field``'s column on its own."""
        return bool(field.db_index)

    def live_type(self, field_type: str | None) -> str | None:
        """The class compared for a column introspection reports as ``field_type``."""
        return field_type

    def normalise_type(self, text: str | None) -> str:
        """A type name in this vendor's one spelling (:mod:`..types`)."""
        return normalise_type(
            self.connection.vendor,
            text,
            mariadb=bool(getattr(self.connection, "mysql_is_mariadb", False)),
        )

    def definitions(self, model: Any, table: Table) -> dict[str, Definition]:
        """Indexes and constraints of ``model`` compared by definition (none)."""
        return {}
