"""What a MySQL/MariaDB restore of only some tables would break.

A plan-scoped restore (:mod:`migration_guard.backup.scoped`) drops and
recreates the scope's tables and leaves everything else as it is. Foreign
keys crossing the border are the manifest's ``relations`` (checked before a
restore). What else ties the rest of the database to those tables is found
here, from the catalog, so that the backup is of the whole database instead:

* a view reading one of them: it would be left as it is now, over a table
  as it was then (and a view is no table: a scope never holds one);
* a trigger of another table whose body names one of them: it writes or
  reads the scope's rows from outside, and is not in the dump.

Triggers *of* the scope's tables are dumped with them and need nothing.
Routines and events are looked up by name when they run: a table recreated
under them is what they find, so they are no reason.

The load runs with foreign key checks off (the scope's tables are dropped
and recreated under the foreign keys of the others), so after it
:func:`check_references` looks for rows that the checks would have refused:
rows of other tables pointing at rows the backup does not hold (written
since the backup), or restored rows pointing at rows deleted since.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup import relations
from migration_guard.backup.base import BackupError
from migration_guard.backup.mysql_cleanup import quote_name

#: reasons listed in full; the rest are counted
SHOWN = 5


def scope_problems(
    connection: BaseDatabaseWrapper, tables: Collection[str]
) -> list[str]:
    """Why a restore of only ``tables`` would break the database; [] if nothing."""
    inside = set(tables)
    if not inside:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT DATABASE()")
        schema = str(cursor.fetchone()[0])
        cursor.execute(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            [schema],
        )
        views = list(cursor.fetchall())
        cursor.execute(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT "
            "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
            "ORDER BY TRIGGER_NAME",
            [schema],
        )
        triggers = list(cursor.fetchall())
    problems = _views(schema, views, inside) + _triggers(triggers, inside)
    if len(problems) > SHOWN:
        problems = [*problems[:SHOWN], f"and {len(problems) - SHOWN} more"]
    return problems


def _views(schema: str, views: list[tuple[str, str]], inside: set[str]) -> list[str]:
    """The views whose definition reads a table of ``inside``.

    The server stores a view's definition with every table qualified by its
    schema (`` `db`.`table` ``), whatever the ``CREATE VIEW`` said.
    """
    prefix = f"`{schema.replace('`', '``')}`.`"
    found = []
    for view, definition in views:
        read = sorted(
            table
            for table in inside
            if f"{prefix}{table.replace('`', '``')}`" in str(definition or "")
        )
        if read:
            found.append(
                f"the view {view} reads {', '.join(read)}, which a restore of the "
                "plan's tables alone would replace under it"
            )
    return found


def _triggers(triggers: list[tuple[str, str, str]], inside: set[str]) -> list[str]:
    """The triggers of tables outside ``inside`` whose body names one inside.

    A body is stored as written: a name is found with or without backquotes,
    in any case (the match may be a column of the same name: then the
    backup is only larger than it needed to be).
    """
    found = []
    for trigger, table, body in triggers:
        if table in inside:
            continue  # dumped with its table
        named = sorted(t for t in inside if _names(str(body or ""), t))
        if named:
            found.append(
                f"the trigger {trigger} of table {table}, outside the plan, "
                f"uses {', '.join(named)}"
            )
    return found


def _names(body: str, table: str) -> bool:
    """Whether ``body`` names ``table`` as a word, backquoted or not."""
    word = re.escape(table)
    pattern = rf"`{re.escape(table.replace('`', '``'))}`|(?<![\w$`]){word}(?![\w$`])"
    return re.search(pattern, body, re.IGNORECASE) is not None


def check_references(
    connection: BaseDatabaseWrapper, tables: Collection[str], name: str
) -> None:
    """Raise BackupError when, after a scoped load of ``tables``, rows on
    one side of a foreign key crossing their border point at nothing."""
    broken = []
    with connection.cursor() as cursor:
        for relation in relations.outside(connection, tables):
            cursor.execute(_dangling_sql(relation))
            count = int(cursor.fetchone()[0])
            if count:
                broken.append(
                    f"{count} row{'s' * (count != 1)} of {relation['table']} "
                    f"point{'s' * (count == 1)} at rows of "
                    f"{relation['referenced_table']} that are not there "
                    f"({relations.describe(relation)})"
                )
    if broken:
        raise BackupError(
            f"The backup is loaded into MySQL database '{name}' ({len(tables)} "
            f"table{'s' * (len(tables) != 1)}), but the rest of the database no "
            f"longer matches them: {'; '.join(broken[:SHOWN])}. Rows written "
            "since the backup refer to rows it does not hold (or the other "
            "way round): delete or fix them and run the restore again, or "
            "restore a full backup."
        )


def _dangling_sql(relation: dict[str, str]) -> str:
    """``COUNT(*)`` of the rows whose foreign key ``relation`` points at no row
    (MATCH SIMPLE, as InnoDB checks: a NULL in the key is no reference)."""
    child, parent = (
        quote_name(relation["table"]),
        quote_name(relation["referenced_table"]),
    )
    pairs = list(
        zip(
            relation["columns"].split(","),
            relation["referenced_columns"].split(","),
            strict=True,
        )
    )
    present = " AND ".join(f"c.{quote_name(col)} IS NOT NULL" for col, _ in pairs)
    match = " AND ".join(
        f"p.{quote_name(ref)} = c.{quote_name(col)}" for col, ref in pairs
    )
    return (
        f"SELECT COUNT(*) FROM {child} c WHERE {present} AND NOT EXISTS "
        f"(SELECT 1 FROM {parent} p WHERE {match})"
    )
