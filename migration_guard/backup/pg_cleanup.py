"""What a PostgreSQL restore drops before ``pg_restore --clean``.

``--clean --if-exists`` drops and recreates every object of the archive, but
leaves alone objects created since the backup (a table of a failed
non-atomic migration, say), which may even block it (a foreign key to a
table it drops). Those are found in the catalog and dropped first.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup.base import RESTORE_MARKER_TABLE, BackupError

#: Objects with smaller OIDs were created by initdb (``public``, ``plpgsql``):
#: pg_dump never dumps them, so a restore must never drop them either.
FIRST_NORMAL_OBJECT_ID = 16384


def _as_listed(line: str) -> str:
    """A name as ``pg_restore --list`` prints it (line breaks as spaces)."""
    return line.replace("\r", " ").replace("\n", " ")


def _user_object(alias: str, catalog: str, also_skip: str = "") -> str:
    """SQL: row ``alias`` of ``catalog`` is a user's object pg_dump would dump.

    Created after initdb, outside the system schemas (``n`` is the row's
    namespace), not an extension's member, nor what ``also_skip`` (a
    condition on its ``pg_depend`` row ``d``) describes.
    """
    return f"""{alias}.oid >= {FIRST_NORMAL_OBJECT_ID}
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.{catalog}'::regclass
                    AND d.objid = {alias}.oid AND (d.deptype = 'e'{also_skip}))"""


#: sequences owned by a column, partitions: they go with their relation
_GOES_WITH_A_RELATION = (
    " OR d.deptype IN ('a', 'i') AND d.refclassid = 'pg_catalog.pg_class'::regclass"
)


#: Objects that ``pg_restore --clean`` does not remove because the archive
#: does not know them, as (``pg_restore --list`` description, key as the list
#: prints it without the owner, DROP statement). The keys are built the way
#: pg_dump builds its tags; ``search_path`` is empty, as in pg_dump, so that
#: ``format_type``/``regclass`` qualify names the same way.
#: Left out: objects initdb created, extension members, system schemas,
#: relations that go with another one (sequences owned by a column,
#: partitions: dropping their table drops them, and an identity sequence
#: cannot be dropped on its own), aggregates, and object kinds Django
#: migrations do not create (casts, operators, publications, large objects...).
EXTRA_CANDIDATES_SQL = f"""
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                      ELSE 'TABLE' END,
       n.nspname || ' ' || c.relname,
       'DROP ' || CASE c.relkind WHEN 'v' THEN 'VIEW'
                                 WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'S' THEN 'SEQUENCE'
                                 WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END
           || ' IF EXISTS ' || c.oid::regclass::text || ' CASCADE',
       1
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND {_user_object("c", "pg_class", _GOES_WITH_A_RELATION)}
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       n.nspname || ' ' || p.proname || '('
           || pg_catalog.oidvectortypes(p.proargtypes) || ')',
       'DROP ' || CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END
           || ' IF EXISTS ' || p.oid::regprocedure::text || ' CASCADE',
       2
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p', 'w')
  AND {_user_object("p", "pg_proc")}
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
       n.nspname || ' ' || t.typname,
       'DROP ' || CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END
           || ' IF EXISTS ' || t.oid::regtype::text || ' CASCADE',
       3
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
  AND {_user_object("t", "pg_type")}
UNION ALL
SELECT 'SCHEMA', '- ' || n.nspname,
       'DROP SCHEMA IF EXISTS ' || pg_catalog.quote_ident(n.nspname) || ' CASCADE',
       4
FROM pg_catalog.pg_namespace n
WHERE {_user_object("n", "pg_namespace")}
UNION ALL
SELECT 'EXTENSION', '- ' || e.extname,
       'DROP EXTENSION IF EXISTS ' || pg_catalog.quote_ident(e.extname) || ' CASCADE',
       5
FROM pg_catalog.pg_extension e
WHERE e.oid >= {FIRST_NORMAL_OBJECT_ID}
ORDER BY 4, 2
"""


def extra_objects(
    connection: BaseDatabaseWrapper, archived: Mapping[str, set[str]]
) -> list[str]:
    """DROP statements for the objects of the database not in ``archived``.

    ``search_path`` is emptied for the transaction, as pg_dump does, so
    names are qualified in the keys as in the archive's tags, and in the
    statements.
    """
    drops = []
    with (
        transaction.atomic(using=connection.alias),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_catalog.set_config('search_path', '', true)")
        cursor.execute(EXTRA_CANDIDATES_SQL)
        for description, key, drop, _ in cursor.fetchall():
            if key.rsplit(" ", 1)[-1] == RESTORE_MARKER_TABLE:
                continue  # the restore's own marker (markers.set_marker)
            if _as_listed(key) not in archived.get(description, ()):
                drops.append(drop)
    return drops


def drop_extra_objects(
    connection: BaseDatabaseWrapper, archived: Mapping[str, set[str]], name: str
) -> list[str]:
    """Drop, in one transaction, what :func:`extra_objects` finds; return it.

    ``name`` is the database's, for the message.
    """
    try:
        with transaction.atomic(using=connection.alias):
            drops = extra_objects(connection, archived)
            with connection.cursor() as cursor:
                for statement in drops:
                    cursor.execute(statement)
    except DatabaseError as exc:
        raise BackupError(
            f"Could not drop the objects created since the backup in database "
            f"{name!r} (nothing was restored): {str(exc).strip()}"
        ) from exc
    return drops
