"""PostgreSQL's catalogs read for many tables at once.

Django's ``get_table_description`` and ``get_constraints`` run four queries
per table, one of which reads a row of it (``SELECT * ... LIMIT 1``) only for
``cursor.description``. :func:`read` runs the same catalog queries once for
all the tables, keyed by table name, derives what ``cursor.description``
would say from ``pg_attribute`` and ``pg_type``, and hands the resulting
``FieldInfo`` rows and constraint dicts to the same assembly as the
per-table path (:meth:`SchemaBackend.table
<safemigrate.schema.backends.base.SchemaBackend.table>`): field classes still
come from ``introspection.get_field_type``.

The derivation is only exact for columns whose type Django maps by its OID
alone (``data_types_reverse``). A table with any other column (a domain, an
array, an extension type such as ``hstore``, which Django 6.1 recognises by
name, or a ``numeric`` without precision, which Django 6.1 reports as
``None`` where psycopg2 says 65535) is read through Django's per-table
introspection instead.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safemigrate.schema import Schema
    from safemigrate.schema.backends.base import SchemaBackend

NUMERIC_OID = 1700
#: the typmod of a varchar(n) / numeric(p, s) column carries this header
VARHDRSZ = 4

#: ``get_table_description``'s catalog query, for every table in ``%s``, plus
#: the type's OID, typmod, kind and length (what ``cursor.description`` of a
#: ``SELECT *`` is made of); columns in the order ``SELECT *`` lists them.
COLUMNS = """
    SELECT
        c.relname,
        a.attname,
        a.atttypid,
        a.atttypmod,
        t.typtype,
        t.typlen,
        NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)) AS is_nullable,
        pg_get_expr(ad.adbin, ad.adrelid) AS column_default,
        CASE WHEN collname = 'default' THEN NULL ELSE collname END AS collation,
        a.attidentity != '' AS is_autofield,
        col_description(a.attrelid, a.attnum) AS column_comment
    FROM pg_attribute a
    LEFT JOIN pg_attrdef ad ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    LEFT JOIN pg_collation co ON a.attcollation = co.oid
    JOIN pg_type t ON a.atttypid = t.oid
    JOIN pg_class c ON a.attrelid = c.oid
    JOIN pg_namespace n ON c.relnamespace = n.oid
    WHERE c.relkind IN ('f', 'm', 'p', 'r', 'v')
        AND c.relname = ANY(%s)
        AND a.attnum > 0
        AND NOT a.attisdropped
        AND n.nspname NOT IN ('pg_catalog', 'pg_toast')
        AND pg_catalog.pg_table_is_visible(c.oid)
    ORDER BY c.relname, a.attnum
"""

#: ``get_constraints``' constraint query, for every table in ``%s``.
CONSTRAINTS = """
    SELECT
        cl.relname,
        c.conname,
        array(
            SELECT attname
            FROM unnest(c.conkey) WITH ORDINALITY cols(colid, arridx)
            JOIN pg_attribute AS ca ON cols.colid = ca.attnum
            WHERE ca.attrelid = c.conrelid
            ORDER BY cols.arridx
        ),
        c.contype,
        (SELECT fkc.relname || '.' || fka.attname
        FROM pg_attribute AS fka
        JOIN pg_class AS fkc ON fka.attrelid = fkc.oid
        WHERE fka.attrelid = c.confrelid AND fka.attnum = c.confkey[1])
    FROM pg_constraint AS c
    JOIN pg_class AS cl ON c.conrelid = cl.oid
    WHERE cl.relname = ANY(%s) AND pg_catalog.pg_table_is_visible(cl.oid)
"""

#: ``get_constraints``' index query, for every table in ``%s`` (an index
#: name is unique in its schema, so it alone groups an index's columns).
INDEXES = """
    SELECT relname, indexname, array_agg(attname ORDER BY arridx),
        indisunique, indisprimary
    FROM (
        SELECT
            c.relname, c2.relname AS indexname, idx.indisunique,
            idx.indisprimary, idx.arridx, attr.attname
        FROM (
            SELECT *
            FROM pg_index i, unnest(i.indkey) WITH ORDINALITY koi(key, arridx)
        ) idx
        LEFT JOIN pg_class c ON idx.indrelid = c.oid
        LEFT JOIN pg_class c2 ON idx.indexrelid = c2.oid
        LEFT JOIN
            pg_attribute attr ON attr.attrelid = c.oid AND attr.attnum = idx.key
        WHERE c.relname = ANY(%s) AND pg_catalog.pg_table_is_visible(c.oid)
    ) s2
    GROUP BY relname, indexname, indisunique, indisprimary
"""


def read(backend: SchemaBackend, cursor: Any, names: list[str]) -> Schema:
    """Every table of ``names``, as :meth:`SchemaBackend.read_table` reads it."""
    connection = backend.connection
    introspection = connection.introspection
    field_info = import_module(type(introspection).__module__).FieldInfo
    mapped = introspection.data_types_reverse
    cursor.execute(COLUMNS, [names])
    rows: dict[str, list[Any]] = defaultdict(list)
    per_table: set[str] = set()
    for relname, name, oid, typmod, typtype, typlen, *rest in cursor.fetchall():
        if typtype == "d" or oid not in mapped or (oid == NUMERIC_OID and typmod < 0):
            per_table.add(relname)
            continue
        rows[relname].append(field_info(name, oid, *_sizes(oid, typmod, typlen), *rest))
    constraints = _constraints(cursor, names)
    schema = {}
    for name in names:
        if name in per_table:
            schema[name] = backend.read_table(cursor, name)
        else:
            schema[name] = backend.table(name, rows[name], constraints[name])
    return schema


def _sizes(
    oid: int, typmod: int, typlen: int
) -> tuple[int, int, int | None, int | None]:
    """(display_size, internal_size, precision, scale) as Django reads psycopg2's.

    psycopg2 reports a fixed-size type's length, a ``varchar(n)``'s ``n``, a
    ``numeric(p, s)``'s ``p`` (and ``p``, ``s`` as precision and scale) and
    no display size, which Django replaces with the internal size. psycopg 3
    differs only where :func:`~safemigrate.schema.introspect.column_from`
    does not look (the sizes of types that are neither character nor
    numeric).
    """
    modifier = typmod - VARHDRSZ if typmod > 0 else typmod
    if oid == NUMERIC_OID:
        precision, scale = (modifier >> 16) & 0xFFFF, modifier & 0xFFFF
        return precision, precision, precision, scale
    size = modifier if typlen == -1 else typlen
    return size, size, None, None


def _constraints(cursor: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """``get_constraints`` of every table, with the keys the assembly reads.

    Constraints first, then the indexes that are not also a constraint (a
    primary key or unique constraint has an index of the same name), as
    Django merges them; an expression index's columns are ``[]``.
    """
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    cursor.execute(CONSTRAINTS, [names])
    for relname, constraint, columns, kind, used_cols in cursor.fetchall():
        found[relname][constraint] = {
            "columns": columns,
            "primary_key": kind == "p",
            "unique": kind in ("p", "u"),
            "foreign_key": tuple(used_cols.split(".", 1)) if kind == "f" else None,
            "check": kind == "c",
            "index": False,
        }
    cursor.execute(INDEXES, [names])
    for relname, index, columns, unique, primary in cursor.fetchall():
        found[relname].setdefault(
            index,
            {
                "columns": columns if columns != [None] else [],
                "primary_key": primary,
                "unique": unique,
                "foreign_key": None,
                "check": False,
                "index": True,
            },
        )
    return found
