"""The database vendors migration_guard supports, and what it uses for each.

One :class:`Vendor` record per ``connection.vendor`` names the
implementations chosen for that vendor: the backup backend, the schema
backend (live schema reading), the migration lock and the kind of scratch
database. Keying by vendor (not by ENGINE) makes PostGIS, MySQL GIS and wrapper
engines (poolers, instrumentation) use what the database they talk to needs.

Adding a vendor is one package: its backup and schema backends, and a
:func:`register` call with their dotted paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from django.utils.module_loading import import_string

from migration_guard.exceptions import UsageError

if TYPE_CHECKING:
    from migration_guard.backup.base import BackupBackend
    from migration_guard.reconcile.schema.backends.base import SchemaBackend

#: "advisory": pg_advisory_lock on a connection of its own; "get_lock": MySQL's
#: GET_LOCK; "file": flock on a file beside the database file
LockKind = Literal["advisory", "get_lock", "file"]
#: "server": a database created on the same server; "file": a temporary file
ScratchKind = Literal["server", "file"]


@dataclass(frozen=True)
class Vendor:
    """What migration_guard uses for the databases of one vendor."""

    name: str  # connection.vendor
    backup: str  # dotted path of the BackupBackend subclass
    schema: str  # dotted path of the SchemaBackend subclass
    lock: LockKind
    scratch: ScratchKind

    def backup_backend(self) -> type[BackupBackend]:
        return cast("type[BackupBackend]", import_string(self.backup))

    def schema_backend(self) -> type[SchemaBackend]:
        return cast("type[SchemaBackend]", import_string(self.schema))


class UnsupportedVendor(UsageError):
    """A database of a vendor that migration_guard has no support for."""


VENDORS: dict[str, Vendor] = {}


def register(vendor: Vendor) -> Vendor:
    """Make ``vendor`` known (replacing a record of the same name)."""
    VENDORS[vendor.name] = vendor
    return vendor


def find(name: str) -> Vendor | None:
    """The record of vendor ``name``, None if unsupported."""
    return VENDORS.get(name)


def get(name: str, *, alias: str | None = None, doing: str = "use") -> Vendor:
    """The record of vendor ``name``; UnsupportedVendor naming it and ``alias``.

    ``doing`` says what could not be done ("back up", "lock", ...).
    """
    found = VENDORS.get(name)
    if found is None:
        where = f" (database '{alias}')" if alias else ""
        raise UnsupportedVendor(
            f"migration_guard cannot {doing} {name!r} databases{where}. "
            f"Supported: {', '.join(VENDORS)}."
        )
    return found


def for_connection(connection: Any, *, doing: str = "use") -> Vendor:
    """The record of ``connection.vendor``; the error names its alias."""
    return get(connection.vendor, alias=connection.alias, doing=doing)


register(
    Vendor(
        "sqlite",
        backup="migration_guard.backup.sqlite.SQLiteBackend",
        schema="migration_guard.reconcile.schema.backends.sqlite.Backend",
        lock="file",
        scratch="file",
    )
)
register(
    Vendor(
        "postgresql",
        backup="migration_guard.backup.postgresql.PostgreSQLBackend",
        schema="migration_guard.reconcile.schema.backends.postgresql.Backend",
        lock="advisory",
        scratch="server",
    )
)
register(
    Vendor(
        "mysql",
        backup="migration_guard.backup.mysql.MySQLBackend",
        schema="migration_guard.reconcile.schema.backends.mysql.Backend",
        lock="get_lock",
        scratch="server",
    )
)
