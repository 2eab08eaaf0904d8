"""SQLite: every integer primary key is a rowid, introspected as AutoField."""

from __future__ import annotations

from typing import Any

from safemigrate.schema.backends.base import SchemaBackend

AUTO_TYPES = {"AutoField", "BigAutoField", "SmallAutoField"}
INTEGER_TYPES = {"IntegerField", "BigIntegerField", "SmallIntegerField"}


class Backend(SchemaBackend):
    def field_type(self, field_type: str, field: Any) -> str:
        # SQLite's integer primary keys are all 64-bit rowids; Django's
        # introspection reports any of them as AutoField.
        if field.primary_key and field_type in AUTO_TYPES | INTEGER_TYPES:
            return "AutoField"
        return field_type
