"""What a MySQL/MariaDB restore drops before it loads a dump.

A dump recreates what it holds; objects created after the backup (tables of
a failed migration, a new view or routine) would survive the load, so a
restore first drops every object of the database a dump can recreate. A
plan-scoped restore drops the scope's tables only (:func:`scoped_cleanup_sql`):
every other object of the database stays as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup.base import RESTORE_MARKER_TABLE

if TYPE_CHECKING:
    from migration_guard.backup.scoped import TableScope

#: names per DROP statement when emptying the database
DROP_BATCH = 200


def quote_name(name: str) -> str:
    """A MySQL identifier in backquotes (a backquote in it is doubled)."""
    return "`" + name.replace("`", "``") + "`"


def cleanup_sql(connection: BaseDatabaseWrapper, name: str) -> str:
    """SQL that drops every object of the database a dump can recreate.

    Objects created after the backup (tables of a failed migration, a new
    view or routine) would otherwise survive the restore. Triggers go
    with their tables. Foreign key checks are off so the tables can be
    dropped in any order. Read through Django's connection, which the
    migration run uses anyway.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            [name],
        )
        tables = list(cursor.fetchall())
        cursor.execute(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES "
            "WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE IN "
            "('PROCEDURE', 'FUNCTION') ORDER BY ROUTINE_NAME",
            [name],
        )
        routines = list(cursor.fetchall())
        cursor.execute(
            "SELECT EVENT_NAME FROM information_schema.EVENTS "
            "WHERE EVENT_SCHEMA = %s ORDER BY EVENT_NAME",
            [name],
        )
        events = [row[0] for row in cursor.fetchall()]
    # the marker of this restore stays until the load is complete
    tables = [(t, kind) for t, kind in tables if t != RESTORE_MARKER_TABLE]
    schema = quote_name(name)

    def qualified(object_name: str) -> str:
        return f"{schema}.{quote_name(object_name)}"

    statements = ["SET FOREIGN_KEY_CHECKS = 0;"]
    statements += [f"DROP EVENT IF EXISTS {qualified(event)};" for event in events]
    statements += [
        f"DROP {kind} IF EXISTS {qualified(routine)};" for kind, routine in routines
    ]
    statements += _drops(schema, tables)
    statements.append("SET FOREIGN_KEY_CHECKS = 1;")
    return "\n".join(statements) + "\n"


def scoped_cleanup_sql(
    connection: BaseDatabaseWrapper, name: str, scope: TableScope
) -> str:
    """SQL that drops the tables of a plan-scoped restore, as they are now.

    The tables the backup holds (``scope.present``: its load recreates
    them) are dropped as what they are now (one the plan turned into a view
    is dropped as a view, which the dump's ``DROP TABLE`` could not); those
    the plan created (``scope.created``) are dropped if they are tables: a
    view of that name was no table when the backup was taken, so the plan
    did not create it (an unmanaged model over a view). Foreign keys of
    other tables pointing at them survive (checks are off); their triggers
    go with them; routines, events and every other table stay.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            [name],
        )
        found = [
            (t, kind) for t, kind in cursor.fetchall() if t != RESTORE_MARKER_TABLE
        ]
    present, created = set(scope.present), set(scope.created)
    tables = [
        (t, kind)
        for t, kind in found
        if t in present or (t in created and kind != "VIEW")
    ]
    statements = ["SET FOREIGN_KEY_CHECKS = 0;"]
    statements += _drops(quote_name(name), tables)
    statements.append("SET FOREIGN_KEY_CHECKS = 1;")
    return "\n".join(statements) + "\n"


def _drops(schema: str, tables: list[tuple[str, str]]) -> list[str]:
    """``DROP VIEW/TABLE/SEQUENCE`` of ``tables`` (name, TABLE_TYPE), batched."""
    kinds = (
        ("VIEW", {"VIEW"}),
        ("TABLE", {"BASE TABLE", "SYSTEM VERSIONED"}),
        ("SEQUENCE", {"SEQUENCE"}),
    )
    statements = []
    for keyword, types in kinds:
        names = [f"{schema}.{quote_name(t)}" for t, kind in tables if kind in types]
        for start in range(0, len(names), DROP_BATCH):
            batch = ", ".join(names[start : start + DROP_BATCH])
            statements.append(f"DROP {keyword} IF EXISTS {batch};")
    return statements
