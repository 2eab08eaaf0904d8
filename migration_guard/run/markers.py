"""The restore marker: a table that says a restore is in progress.

The load of a MySQL dump (and of a parallel PostgreSQL one) is not atomic,
so a restore creates the marker (:data:`MARKER_TABLE`) first and drops it
last: a killed restore leaves it, naming its backup, and runs refuse the
database (exit 7) until the restore is done again, or replaced by one that
writes at least as much (:func:`check_covers_unfinished`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections
from django.utils import timezone

from migration_guard.backup.base import RESTORE_MARKER_TABLE
from migration_guard.exceptions import RecoveryRequired

if TYPE_CHECKING:
    from migration_guard.backup.storage import BackupStore, Manifest

MARKER_TABLE = RESTORE_MARKER_TABLE


def unfinished_restore(
    alias: str, tables: Collection[str] | None = None
) -> dict[str, Any] | None:
    """The marker of a restore that did not finish, or None.

    ``tables``: the database's tables, when the caller has listed them.
    """
    connection = connections[alias]
    with connection.cursor() as cursor:
        if tables is None:
            tables = connection.introspection.table_names(cursor)
        if MARKER_TABLE not in tables:
            return None
        table = connection.ops.quote_name(MARKER_TABLE)
        cursor.execute(f"SELECT backup_id, started_at FROM {table}")
        row = cursor.fetchone()
    return {"backup_id": row[0] if row else "", "started_at": row[1] if row else ""}


def unfinished_text(alias: str, marker: dict[str, Any]) -> str:
    """What the marker of an unfinished restore says (the start of a refusal)."""
    return (
        f"A restore of backup {marker['backup_id'] or '(unknown)'} into database "
        f"'{alias}', started {marker['started_at']}, did not finish: the database "
        "holds only part of that backup."
    )


def refuse_unfinished_restore(
    alias: str, tables: Collection[str] | None = None
) -> None:
    marker = unfinished_restore(alias, tables)
    if marker is None:
        return
    backup = marker["backup_id"]
    raise RecoveryRequired(
        f"{unfinished_text(alias, marker)} Nothing was done. Restore it again: "
        f"manage.py migrationbackups restore {backup or 'BACKUP_ID'} --database {alias}"
    )


def check_covers_unfinished(
    alias: str, manifest: Manifest, store: BackupStore | None = None
) -> dict[str, Any] | None:
    """Refuse (exit 7) to restore ``manifest`` over an unfinished restore it
    does not cover; the marker (None: there is none).

    The tables the unfinished restore of backup X was writing are half-loaded.
    A restore of ``manifest`` replaces the marker, so it must write at least
    those: it is X, or a full backup, or a plan-scoped one whose scope holds
    X's. A narrower scoped restore would clear the marker and leave the rest
    as the killed load left it, in a database that looks whole. Exit 7, as
    every refusal of a half-restored database: the backup is not at fault
    (exit 4 says that), the database is, and the way out is the same
    ``migrationbackups restore X``. A marker naming a backup the store no
    longer has (or none) counts as a full restore: what it wrote is unknown.
    """
    marker = unfinished_restore(alias)
    if marker is None or not manifest.scope or marker["backup_id"] == manifest.id:
        return marker
    from migration_guard.backup.scoped import describe_scope
    from migration_guard.backup.storage import get_store

    store = store or get_store()
    unfinished = store.get(marker["backup_id"]) if marker["backup_id"] else None
    missing = sorted(set(unfinished.scope) - set(manifest.scope)) if unfinished else []
    if unfinished is not None and unfinished.scope and not missing:
        return marker
    if unfinished is None:
        what = (
            f"backup {marker['backup_id'] or '(unknown)'} is not in "
            f"{store.description}, so what its restore was writing is unknown"
        )
        fix = (
            "Restore a full backup of this database first (manage.py "
            "migrationbackups list shows them)"
        )
    else:
        what = f"the restore of {unfinished.id} was " + (
            f"also writing {describe_scope(missing)}"
            if unfinished.scope
            else "writing the whole database"
        )
        fix = (
            f"Restore {unfinished.id} again first: manage.py migrationbackups "
            f"restore {unfinished.id} --database {alias} (or restore "
            + ("another" if not unfinished.scope else "a")
            + " full backup of this database)"
        )
    raise RecoveryRequired(
        f"{unfinished_text(alias, marker)} Backup {manifest.id} holds only the plan's "
        f"{describe_scope(manifest.scope)}, and {what}: restoring it would leave "
        "the rest as that restore left it, and clear the marker of a database "
        f"that is still half-loaded. Nothing was done. {fix}; then {manifest.id}, "
        "if it is still wanted."
    )


def marks_restores(alias: str, manifest: Manifest | None = None) -> bool:
    """Whether a restore of ``alias`` (of ``manifest``) needs the marker.

    A MySQL load is not atomic. A PostgreSQL restore is two transactions:
    the objects the backup does not know are dropped first (committed), then
    ``pg_restore --single-transaction`` loads the archive; killed between or
    during them, the database has lost those objects but not got the backup
    back (the fault suite found it: the tables a deploy created were gone
    while ``django_migrations`` still listed their migrations). A SQLite
    restore goes through the backup API, which holds the destination's write
    lock until the end: a killed restore leaves the database as it was. So
    does a plan-scoped PostgreSQL restore: its drops, load and foreign keys
    are one psql transaction (backup.pg_scoped).
    """
    vendor = connections[alias].vendor
    if vendor == "postgresql" and manifest is not None and manifest.scope:
        return False
    return vendor in ("mysql", "postgresql")


def restore_marked(alias: str, manifest: Manifest, **options: Any) -> None:
    """Restore ``manifest`` into ``alias`` under the restore marker where the
    vendor needs it (:func:`marks_restores`).

    The marker of an unfinished restore is replaced only by a restore that
    covers it (:func:`check_covers_unfinished`), and a plan-scoped backup's
    checks come first: a refusal leaves neither a changed database nor a
    changed marker. A failed restore leaves the marker: runs refuse the
    database until it is restored again. A restore that needs no marker of
    its own (atomic) clears the one it covered once it is done.
    ``options`` go to :func:`~migration_guard.backup.catalog.restore_backup`.
    """
    from migration_guard.backup.catalog import check_scope, restore_backup

    earlier = check_covers_unfinished(alias, manifest, options.get("store"))
    check_scope(alias, manifest)
    marked = marks_restores(alias, manifest)
    if marked:
        set_marker(alias, manifest.id)
    restore_backup(alias, manifest, scope_checked=True, **options)
    if marked or earlier is not None:
        clear_marker(alias)


def set_marker(alias: str, backup_id: str) -> None:
    """Create the marker of a restore in progress (committed at once), or
    make the marker of an unfinished restore name this one.

    One statement writes it, so that a marker never exists without the
    backup it names (MySQL commits a ``CREATE TABLE`` by itself: a kill
    between a create and an insert left an empty marker), and an earlier
    marker is updated, never dropped and created again: a kill between the
    two left no marker over tables the earlier restore had half-loaded.
    """
    connection = connections[alias]
    table = connection.ops.quote_name(MARKER_TABLE)
    values = [backup_id, f"{timezone.now():%Y-%m-%d %H:%M:%S} UTC"]
    with connection.cursor() as cursor:
        if unfinished_restore(alias) is None:
            cursor.execute(
                f"CREATE TABLE {table} AS SELECT %s AS backup_id, %s AS started_at",
                values,
            )
        else:
            if connection.vendor == "mysql":  # columns as wide as their first value
                cursor.execute(
                    f"ALTER TABLE {table} MODIFY backup_id VARCHAR(255), "
                    "MODIFY started_at VARCHAR(64)"
                )
            cursor.execute(
                f"UPDATE {table} SET backup_id = %s, started_at = %s", values
            )
            if not cursor.rowcount:  # an empty marker (older versions): unknown
                cursor.execute(
                    f"INSERT INTO {table} (backup_id, started_at) VALUES (%s, %s)",
                    values,
                )
    if not connection.get_autocommit():  # pragma: no cover - commands autocommit
        connection.commit()


def clear_marker(alias: str) -> None:
    """Drop the marker: the restore finished.

    The connection may be one the load left unusable (MySQL closes idle
    sessions during a long load; a restore closes Django's connection around
    its steps): on an error the statement is tried once more on a new
    connection, and a second error is raised, never swallowed, since a
    marker left behind makes every later run refuse the database.
    """
    connection = connections[alias]
    statement = f"DROP TABLE IF EXISTS {connection.ops.quote_name(MARKER_TABLE)}"
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    except DatabaseError:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(statement)
    if not connection.get_autocommit():  # pragma: no cover - commands autocommit
        connection.commit()
