"""Schema reading and field-class quirks, one module per database vendor."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from migration_guard.reconcile.schema.backends.base import SchemaBackend

_MODULES = {
    "sqlite": "migration_guard.reconcile.schema.backends.sqlite",
    "postgresql": "migration_guard.reconcile.schema.backends.postgresql",
    "mysql": "migration_guard.reconcile.schema.backends.mysql",
}


def backend_for(connection: Any) -> SchemaBackend:
    """The schema backend of ``connection.vendor`` (the generic one otherwise)."""
    path = _MODULES.get(connection.vendor)
    cls = import_module(path).Backend if path else SchemaBackend
    backend: SchemaBackend = cls(connection)
    return backend
