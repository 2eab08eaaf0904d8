"""Schema reading and field-class quirks, one module per database vendor."""

from __future__ import annotations

from typing import Any

from migration_guard import vendors
from migration_guard.reconcile.schema.backends.base import SchemaBackend


def backend_for(connection: Any) -> SchemaBackend:
    """The schema backend of ``connection.vendor`` (:mod:`migration_guard.vendors`;
    the generic one for other vendors)."""
    vendor = vendors.find(connection.vendor)
    cls = vendor.schema_backend() if vendor else SchemaBackend
    backend: SchemaBackend = cls(connection)
    return backend
