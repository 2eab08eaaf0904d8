"""The vendor registry: one record per ``connection.vendor``."""

from __future__ import annotations

import types

import pytest

from migration_guard import vendors
from migration_guard.backup.base import BackupError, backend_class
from migration_guard.backup.mysql import MySQLBackend
from migration_guard.backup.postgresql import PostgreSQLBackend
from migration_guard.backup.sqlite import SQLiteBackend
from migration_guard.reconcile.schema.backends import mysql, postgresql, sqlite
from migration_guard.reconcile.schema.backends.base import SchemaBackend


@pytest.mark.parametrize(
    ("name", "backup", "schema", "lock", "scratch"),
    [
        ("sqlite", SQLiteBackend, sqlite.Backend, "file", "file"),
        ("postgresql", PostgreSQLBackend, postgresql.Backend, "advisory", "server"),
        ("mysql", MySQLBackend, mysql.Backend, "get_lock", "server"),
    ],
)
def test_each_vendor_names_its_implementations(
    name: str,
    backup: type,
    schema: type[SchemaBackend],
    lock: str,
    scratch: str,
) -> None:
    vendor = vendors.get(name)
    assert vendor.backup_backend() is backup
    assert vendor.schema_backend() is schema
    assert (vendor.lock, vendor.scratch) == (lock, scratch)
    assert backend_class(name) is backup


def test_the_supported_vendors() -> None:
    assert list(vendors.VENDORS) == ["sqlite", "postgresql", "mysql"]
    assert vendors.find("oracle") is None


def test_an_unknown_vendor_is_named_with_its_alias() -> None:
    connection = types.SimpleNamespace(vendor="oracle", alias="legacy")
    with pytest.raises(vendors.UnsupportedVendor) as caught:
        vendors.for_connection(connection, doing="lock")
    assert str(caught.value) == (
        "migration_guard cannot lock 'oracle' databases (database 'legacy'). "
        "Supported: sqlite, postgresql, mysql."
    )
    assert caught.value.exit_code == 1


def test_an_unknown_vendor_cannot_be_backed_up() -> None:
    with pytest.raises(BackupError) as caught:
        backend_class("oracle", "legacy")
    assert str(caught.value) == (
        "migration_guard cannot back up 'oracle' databases (database 'legacy'). "
        "Supported: sqlite, postgresql, mysql. Pass --no-backup to migrate "
        "without a backup."
    )


def test_a_vendor_package_registers_itself() -> None:
    record = vendors.Vendor(
        "oracle",
        backup="migration_guard.backup.sqlite.SQLiteBackend",
        schema="migration_guard.reconcile.schema.backends.base.SchemaBackend",
        lock="get_lock",
        scratch="server",
    )
    try:
        assert vendors.register(record) is record
        assert vendors.get("oracle") is record
    finally:
        del vendors.VENDORS["oracle"]
