"""PostgreSQL: ``_like`` pattern-ops indexes Django adds beside text indexes."""

from __future__ import annotations

from typing import Any

from safemigrate.schema import Schema
from safemigrate.schema.backends import postgresql_catalog
from safemigrate.schema.backends.base import SchemaBackend


class Backend(SchemaBackend):
    def read(self, cursor: Any, names: list[str]) -> Schema:
        # Three catalog queries for all tables instead of four per table.
        return postgresql_catalog.read(self, cursor, names)

    def skip_constraint(self, name: str, info: dict[str, Any]) -> bool:
        # varchar_pattern_ops / text_pattern_ops twins of an index or unique
        # constraint on a text column, named "<table>_<column>_<hash>_like".
        return (
            name.endswith("_like")
            and bool(info.get("index"))
            and not info.get("unique")
            and not info.get("primary_key")
        )
