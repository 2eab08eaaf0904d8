"""Custom fields with column types of their own (``db_type``)."""

from __future__ import annotations

from typing import Any

from django.db import models


class HexColorField(models.Field):
    """A ``#rrggbb`` colour in a fixed-width column."""

    description = "a #rrggbb colour"

    def db_type(self, connection: Any) -> str:
        return "char(7)"


class VersionField(models.Field):
    """A small unsigned counter: its column type differs per database."""

    description = "a small unsigned version counter"

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "postgresql":
            return "smallint"
        return "smallint unsigned"
