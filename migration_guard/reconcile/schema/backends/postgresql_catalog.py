"""PostgreSQL's catalogs read for many tables at once.

Django's ``get_table_description`` and ``get_constraints`` run four queries
per table, one of which reads a row of it (``SELECT * ... LIMIT 1``) only for
``cursor.description``. :func:`read` runs the same catalog queries once for
all the tables, keyed by table name, derives what ``cursor.description``
would say from ``pg_attribute`` and ``pg_type``, and hands the resulting
``FieldInfo`` rows and constraint dicts to the same assembly as the
per-table path (:meth:`SchemaBackend.table
<migration_guard.reconcile.schema.backends.base.SchemaBackend.table>`): field classes
still
come from ``introspection.get_field_type``.

The derivation is only exact for columns whose type Django maps by its OID
alone (``data_types_reverse``). A table with any other column (a domain, an
array, an extension type such as ``hstore``, which Django 6.1 recognises by
name, or a ``numeric`` without precision, which Django 6.1 reports as
``None`` where psycopg2 says 65535) is read through Django's per-table
introspection instead.

Every column also gets ``format_type()`` of its type (compared where Django
cannot name the type), and every table the definitions of its indexes and
exclusion constraints (``pg_get_indexdef()``, ``pg_get_constraintdef()``).
"""

from __future__ import annotations

from collections import defaultdict
from importlib import import_module
from typing import TYPE_CHECKING, Any

from migration_guard.reconcile.schema import Definition
from migration_guard.reconcile.schema.types import normalise_definition

if TYPE_CHECKING:
    from migration_guard.reconcile.schema import Schema
    from migration_guard.reconcile.schema.backends.base import SchemaBackend

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
        format_type(a.atttypid, a.atttypmod),
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


#: every index (but primary keys) and exclusion constraint of the tables in
#: ``%s``, by name, with their definitions; a constraint's comes after its
#: index's (same name), and replaces it
DEFINITIONS = """
    SELECT relname, name, definition FROM (
        SELECT c.relname, i.relname AS name,
            pg_get_indexdef(x.indexrelid) AS definition, 0 AS kind
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indrelid
        JOIN pg_class i ON i.oid = x.indexrelid
        WHERE c.relname = ANY(%s) AND pg_catalog.pg_table_is_visible(c.oid)
            AND NOT x.indisprimary
        UNION ALL
        SELECT cl.relname, co.conname, pg_get_constraintdef(co.oid), 1
        FROM pg_constraint co
        JOIN pg_class cl ON co.conrelid = cl.oid
        WHERE co.contype = 'x' AND cl.relname = ANY(%s)
            AND pg_catalog.pg_table_is_visible(cl.oid)
    ) d
    ORDER BY kind
"""

#: the type names of the columns of the tables in ``%s``
RAW_TYPES = """
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a
    JOIN pg_class c ON a.attrelid = c.oid
    WHERE c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
        AND pg_catalog.pg_table_is_visible(c.oid)
"""


def field_info_class(introspection: Any) -> Any:
    """``FieldInfo`` of the introspection's module or the nearest base's (PostGIS)."""
    for cls in type(introspection).__mro__:
        module = import_module(cls.__module__)
        if hasattr(module, "FieldInfo"):
            return module.FieldInfo
    raise LookupError(f"no FieldInfo for {type(introspection).__name__}")


def read(backend: SchemaBackend, cursor: Any, names: list[str]) -> Schema:
    """Every table of ``names``, as :meth:`SchemaBackend.read_table` reads it."""
    connection = backend.connection
    introspection = connection.introspection
    field_info = field_info_class(introspection)
    mapped = introspection.data_types_reverse
    cursor.execute(COLUMNS, [names])
    rows: dict[str, list[Any]] = defaultdict(list)
    raw: dict[str, dict[str, str]] = defaultdict(dict)
    per_table: set[str] = set()
    for relname, name, oid, typmod, typtype, typlen, shown, *rest in cursor.fetchall():
        raw[relname][name] = shown
        if typtype == "d" or oid not in mapped or (oid == NUMERIC_OID and typmod < 0):
            per_table.add(relname)
            continue
        rows[relname].append(field_info(name, oid, *_sizes(oid, typmod, typlen), *rest))
    constraints = _constraints(cursor, names)
    found = definitions(cursor, names)
    schema = {}
    for name in names:
        if name in per_table:  # Django's per-table reading, as read_table does
            with_rows = introspection.get_table_description(cursor, name)
            of_table = introspection.get_constraints(cursor, name)
        else:
            with_rows, of_table = rows[name], constraints[name]
        schema[name] = backend.table(
            name, with_rows, of_table, raw[name], found.get(name, {})
        )
    return schema


def raw_types(cursor: Any, names: list[str]) -> dict[str, dict[str, str]]:
    """Table -> column -> ``format_type()`` of its type."""
    cursor.execute(RAW_TYPES, [names])
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for relname, name, shown in cursor.fetchall():
        found[relname][name] = shown
    return found


def definitions(cursor: Any, names: list[str]) -> dict[str, dict[str, Definition]]:
    """Table -> index or exclusion constraint name -> its definition."""
    cursor.execute(DEFINITIONS, [names, names])
    found: dict[str, dict[str, Definition]] = defaultdict(dict)
    for relname, name, sql in cursor.fetchall():
        found[relname][name] = Definition(normalise_definition(sql), sql)
    return found


def _sizes(
    oid: int, typmod: int, typlen: int
) -> tuple[int, int, int | None, int | None]:
    """(display_size, internal_size, precision, scale) as Django reads psycopg2's.

    psycopg2 reports a fixed-size type's length, a ``varchar(n)``'s ``n``, a
    ``numeric(p, s)``'s ``p`` (and ``p``, ``s`` as precision and scale) and
    no display size, which Django replaces with the internal size. psycopg 3
    differs only where :func:`~migration_guard.reconcile.schema.introspect.column_from`
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
