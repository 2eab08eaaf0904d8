"""Column types and index definitions in the database's own words, normalised.

Where Django's introspection cannot name a column's type (PostgreSQL's
``tsvector``, ``hstore``, ``citext``, arrays, ranges, PostGIS geometries; a
field with a ``db_type()`` of its own), the column is compared by type name:
what the database reports (PostgreSQL ``format_type(atttypid, atttypmod)``,
MariaDB/MySQL ``COLUMN_TYPE``, SQLite's declared type) against the field's
``db_type(connection)``, both through :func:`normalise_type`, which maps each
vendor's aliases to one spelling (``int4`` and ``integer``, ``varchar(n)`` and
``character varying(n)``, ``timestamptz``, ``int(11)`` and ``int``...).

PostgreSQL indexes on expressions and exclusion constraints are compared by
definition: ``pg_get_indexdef()`` / ``pg_get_constraintdef()`` against the
SQL Django's schema editor emits for them, both through
:func:`normalise_definition`.
"""

from __future__ import annotations

import re

#: PostgreSQL: alias -> the name ``format_type()`` prints
PG_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "serial": "integer",
    "serial4": "integer",
    "int8": "bigint",
    "bigserial": "bigint",
    "serial8": "bigint",
    "int2": "smallint",
    "smallserial": "smallint",
    "serial2": "smallint",
    "bool": "boolean",
    "float8": "double precision",
    "float": "double precision",
    "float4": "real",
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "decimal": "numeric",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "varbit": "bit varying",
}
#: MariaDB/MySQL: alias -> the name ``COLUMN_TYPE`` prints
MYSQL_ALIASES = {
    "integer": "int",
    "bool": "tinyint(1)",
    "boolean": "tinyint(1)",
    "double precision": "double",
    "real": "double",
    "numeric": "decimal",
    "dec": "decimal",
    "character": "char",
    "character varying": "varchar",
}
#: SQLite: integer types all share one storage (64-bit INTEGER affinity)
SQLITE_INTEGERS = {"integer", "int", "bigint", "smallint"}
MYSQL_INTEGERS = ("tinyint", "smallint", "mediumint", "int", "bigint")

_SPACES = re.compile(r"\s+")
_PG_TYPE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_ ]*?)\s*(?P<args>\([^)]*\))?(?P<rest>(?:\s*\[\d*\])*)$"
)
_MYSQL_WIDTH = re.compile(rf"^({'|'.join(MYSQL_INTEGERS)})\(\d+\)")


def normalise_type(vendor: str, text: str | None, *, mariadb: bool = False) -> str:
    """One spelling per type for ``vendor``; ``""`` for no type at all."""
    if not text:
        return ""
    value = _SPACES.sub(" ", text.strip().lower())
    if vendor == "postgresql":
        return _postgresql(value)
    if vendor == "mysql":
        return _mysql(value, mariadb)
    if vendor == "sqlite":
        return _sqlite(value)
    return value


def _postgresql(value: str) -> str:
    """``varchar(20)[3]`` -> ``character varying(20)[]``, ``geometry(point,4326)``.

    PostgreSQL keeps no array sizes or dimensions: any number of ``[n]`` is
    one ``[]``.
    """
    match = _PG_TYPE.match(value)
    if match is None:
        return value
    name = PG_ALIASES.get(match["name"].strip(), match["name"].strip())
    args = (match["args"] or "").replace(" ", "")
    if name == "character" and not args:
        args = "(1)"
    array = "[]" if match["rest"] else ""
    return f"{name}{args}{array}"


def _mysql(value: str, mariadb: bool) -> str:
    """``int(11)`` -> ``int``, ``integer auto_increment`` -> ``int``..."""
    value = value.replace(" auto_increment", "").strip()
    if value == "tinyint(1)":
        return value
    value = _MYSQL_WIDTH.sub(r"\1", value)
    head, _, tail = value.partition("(")
    head = MYSQL_ALIASES.get(head.strip(), head.strip())
    value = f"{head}({tail}" if tail else head
    if mariadb and value == "json":
        return "longtext"  # MariaDB's JSON is an alias of LONGTEXT
    return value.replace(", ", ",")


def _sqlite(value: str) -> str:
    """Declared types as written; the integer family is one storage."""
    return "integer" if value in SQLITE_INTEGERS else value


# --- index and constraint definitions (PostgreSQL) ---------------------------

_INDEX_HEAD = re.compile(
    r"^create (?P<unique>unique )?index (?:concurrently )?(?:if not exists )?"
    r"\S+ on (?:only )?\S+ ?"
)
_CONSTRAINT_HEAD = re.compile(r"^alter table \S+ add constraint \S+ ")
_CAST = re.compile(
    r"::(?:[a-z_][a-z0-9_]*(?: varying| precision| with(?:out)? time zone)?)"
    r"(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])*"
)
_DROPPED = re.compile(r"[\"'()\s]")


def normalise_definition(sql: str) -> str:
    """An index or constraint definition reduced to what both spellings share.

    Lower case; the statement's head (``CREATE INDEX name ON table``,
    ``ALTER TABLE t ADD CONSTRAINT name``) replaced by ``unique`` or nothing;
    ``USING btree`` made explicit; casts PostgreSQL adds (``::text``,
    ``::regconfig``...), quotes, parentheses and white space dropped. Two
    definitions that differ only in those are the same index.
    """
    value = _SPACES.sub(" ", sql.strip().lower().rstrip(";"))
    unique = ""
    match = _INDEX_HEAD.match(value)
    if match is not None:
        unique = "unique " if match["unique"] else ""
        value = value[match.end() :]
        if not value.startswith("using "):
            value = "using btree " + value
    else:
        match = _CONSTRAINT_HEAD.match(value)
        if match is not None:
            value = value[match.end() :]
    value = _CAST.sub("", value)
    return unique.strip() + _DROPPED.sub("", value)
