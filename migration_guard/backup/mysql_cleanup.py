"""What a MySQL/MariaDB restore drops before it loads a dump.

A dump recreates what it holds; objects created after the backup (tables of
a failed migration, a new view or routine) would survive the load, so a
restore first drops every object of the database a dump can recreate.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup.base import RESTORE_MARKER_TABLE

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
    kinds = (
        ("VIEW", {"VIEW"}),
        ("TABLE", {"BASE TABLE", "SYSTEM VERSIONED"}),
        ("SEQUENCE", {"SEQUENCE"}),
    )
    for keyword, types in kinds:
        names = [table for table, kind in tables if kind in types]
        for start in range(0, len(names), DROP_BATCH):
            batch = ", ".join(qualified(n) for n in names[start : start + DROP_BATCH])
            statements.append(f"DROP {keyword} IF EXISTS {batch};")
    statements.append("SET FOREIGN_KEY_CHECKS = 1;")
    return "\n".join(statements) + "\n"
