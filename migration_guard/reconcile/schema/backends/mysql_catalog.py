"""MySQL / MariaDB ``information_schema`` read for many tables at once.

Per table, Django's ``get_table_description`` runs four queries and
``get_constraints`` six more (it reads the description again to parse check
clauses). :func:`read` runs each of those queries once for the whole schema,
keyed by table name (the two that join ``information_schema`` tables,
which MariaDB answers slowly, are split and joined in Python), and gets
``cursor.description`` for up to :data:`JOIN_TABLES` tables from one
``SELECT * FROM t1, t2, ... LIMIT 0`` (MySQL answers ``LIMIT 0`` without
executing the join, and the description carries the same type codes and
NOT NULL flags as a one-table ``SELECT``).
It then builds the ``FieldInfo`` rows and constraint dicts as Django does, so
that ``introspection.get_field_type`` (auto-increment, unsigned, JSON and
UUID rules) and :meth:`SchemaBackend.table
<migration_guard.reconcile.schema.backends.base.SchemaBackend.table>` see what the
per-table path gives them.

One difference, outside what a :class:`~migration_guard.reconcile.schema.Table` keeps:
the
``display_size`` of a column without a character length is the length of
the value in the row Django's ``LIMIT 1`` happened to read; ``LIMIT 0``
reads none.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import import_module
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.utils.datastructures import OrderedSet

from migration_guard.compat.backends import mysql_check_columns

if TYPE_CHECKING:
    from migration_guard.reconcile.schema import Schema
    from migration_guard.reconcile.schema.backends.base import SchemaBackend

#: tables per ``LIMIT 0`` join (MySQL and MariaDB join at most 61)
JOIN_TABLES = 50

#: ``get_table_description``'s column query for the whole schema; Django
#: compares each collation with the table's in SQL, :data:`COLLATIONS` lets
#: Python do it (joining ``information_schema.tables`` in SQL costs 15x more).
COLUMNS = """
    SELECT
        table_name, column_name, data_type, character_maximum_length,
        numeric_precision, numeric_scale, extra, column_default, collation_name,
        CASE
            WHEN column_type LIKE '% unsigned' THEN 1
            ELSE 0
        END AS is_unsigned,
        column_comment,
        column_type
    FROM information_schema.columns
    WHERE table_schema = DATABASE()
    ORDER BY table_name, ordinal_position
"""
#: the ``COLUMN_TYPE`` of each column of one table
RAW_TYPES = """
    SELECT column_name, column_type
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = %s
"""
COLLATIONS = """
    SELECT table_name, table_collation
    FROM information_schema.tables
    WHERE table_schema = DATABASE()
"""

#: ``get_table_description``'s JSON_VALID() query (MariaDB), kept word for
#: word: its ``+`` is numeric, whatever that matches per-table it matches here.
JSON_CHECKS = """
    SELECT c.table_name, c.constraint_name AS column_name
    FROM information_schema.check_constraints AS c
    WHERE
        LOWER(c.check_clause) =
            'json_valid(`' + LOWER(c.constraint_name) + '`)' AND
        c.constraint_schema = DATABASE()
"""

#: ``get_constraints``' key query for the whole schema, in its two halves:
#: Django joins them on the constraint name alone, which for the whole schema
#: multiplies rows (every table's ``PRIMARY`` meets every other's) and costs
#: 10x the two queries; :func:`_constraints` joins them.
KEY_COLUMNS = """
    SELECT table_name, constraint_name, column_name,
        referenced_table_name, referenced_column_name
    FROM information_schema.key_column_usage
    WHERE
        table_schema = DATABASE() AND
        (
            referenced_table_schema = DATABASE() OR
            referenced_table_schema IS NULL
        )
    ORDER BY table_name, ordinal_position
"""
KEY_TYPES = """
    SELECT table_name, constraint_name, constraint_type
    FROM information_schema.table_constraints
    WHERE table_schema = DATABASE() AND constraint_type != 'CHECK'
"""

#: ``get_constraints``' check clause query, MariaDB's and MySQL's.
CHECKS_MARIADB = """
    SELECT c.table_name, c.constraint_name, c.check_clause
    FROM information_schema.check_constraints AS c
    WHERE c.constraint_schema = DATABASE()
"""
CHECKS_MYSQL = """
    SELECT tc.table_name, cc.constraint_name, cc.check_clause
    FROM
        information_schema.check_constraints AS cc,
        information_schema.table_constraints AS tc
    WHERE
        cc.constraint_schema = DATABASE() AND
        tc.table_schema = cc.constraint_schema AND
        cc.constraint_name = tc.constraint_name AND
        tc.constraint_type = 'CHECK'
"""

#: what ``SHOW INDEX FROM`` each table lists
INDEXES = """
    SELECT table_name, non_unique, index_name, column_name
    FROM information_schema.statistics
    WHERE table_schema = DATABASE()
    ORDER BY table_name, index_name, seq_in_index
"""


def read(backend: SchemaBackend, cursor: Any, names: list[str]) -> Schema:
    """Every table of ``names``, as :meth:`SchemaBackend.read_table` reads it."""
    connection = backend.connection
    introspection = connection.introspection
    cursor.execute(COLLATIONS)
    table_collations = dict(cursor.fetchall())
    info: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    raw: dict[str, dict[str, str]] = defaultdict(dict)
    cursor.execute(COLUMNS)
    for table, *line, column_type in cursor.fetchall():
        if line[7] == table_collations.get(table):
            line[7] = None  # the table's default collation
        info[table].append(tuple(line))
        raw[table][line[0]] = column_type
    json_columns: dict[str, set[str]] = defaultdict(set)
    if connection.mysql_is_mariadb and connection.features.can_introspect_json_field:
        cursor.execute(JSON_CHECKS)
        for table, column in cursor.fetchall():
            json_columns[table].add(column)
    descriptions = _descriptions(cursor, connection, names, info)
    constraints = _constraints(cursor, connection, info)
    field_info = import_module(type(introspection).__module__).FieldInfo
    schema = {}
    for name in names:
        lines = descriptions.get(name)
        if lines is None:  # the description did not line up with the schema
            schema[name] = backend.read_table(cursor, name)
            continue
        rows = [
            _field_info(field_info, line, column, json_columns[name])
            for line, column in zip(lines, info[name], strict=True)
        ]
        schema[name] = backend.table(name, rows, constraints[name], raw[name])
    return schema


def _to_int(value: Any) -> int | None:
    return int(value) if value is not None else value


def _field_info(
    field_info: Any, line: Any, column: tuple[Any, ...], json_columns: set[str]
) -> Any:
    """One ``FieldInfo`` as Django's ``get_table_description`` makes it."""
    (
        _,
        data_type,
        max_len,
        num_prec,
        num_scale,
        extra,
        column_default,
        collation,
        is_unsigned,
        comment,
    ) = column
    return field_info(
        *line[:2],
        _to_int(max_len) or line[2],
        _to_int(max_len) or line[3],
        _to_int(num_prec) or line[4],
        _to_int(num_scale) or line[5],
        line[6],
        column_default,
        collation,
        extra,
        is_unsigned,
        line[0] in json_columns,
        comment,
        data_type,
    )


def _descriptions(
    cursor: Any,
    connection: Any,
    names: list[str],
    info: dict[str, list[tuple[Any, ...]]],
) -> dict[str, list[Any]]:
    """``cursor.description`` of each table, from ``LIMIT 0`` joins.

    A table whose description does not name the columns ``information_schema``
    lists, in the same order, is left out (and read per table).
    """
    quote = connection.ops.quote_name
    found: dict[str, list[Any]] = {}
    for start in range(0, len(names), JOIN_TABLES):
        chunk = names[start : start + JOIN_TABLES]
        cursor.execute(f"SELECT * FROM {', '.join(map(quote, chunk))} LIMIT 0")
        lines = iter(cursor.description)
        for name in chunk:
            columns = info.get(name, [])
            mine = list(islice(lines, len(columns)))
            if [line[0] for line in mine] == [column[0] for column in columns]:
                found[name] = mine
    return found


Constraints = dict[str, dict[str, dict[str, Any]]]


def _constraints(
    cursor: Any, connection: Any, info: dict[str, list[tuple[Any, ...]]]
) -> Constraints:
    """``get_constraints`` of every table, with the keys the assembly reads.

    Keys first, then check constraints (an unnamed one, named after its only
    column, gets Django's ``__unnamed_constraint_N__`` name), then indexes,
    merged into a key of the same name as Django merges them. A key's kind
    is its own table's constraint of that name; Django's join would take the
    first of the schema's constraints of that name, which only differs when
    two tables use one name for constraints of different kinds.
    """
    found: Constraints = defaultdict(dict)
    _keys(cursor, found)
    if connection.features.can_introspect_check_constraints:
        _checks(cursor, connection, info, found)
    _indexes(cursor, found)
    for constraints in found.values():
        for entry in constraints.values():
            entry["columns"] = list(entry["columns"])
    return found


def _keys(cursor: Any, found: Constraints) -> None:
    cursor.execute(KEY_TYPES)
    kinds: dict[str, dict[str, str]] = defaultdict(dict)
    for table, constraint, kind in cursor.fetchall():
        kinds[constraint][table] = kind
    cursor.execute(KEY_COLUMNS)
    for table, constraint, column, ref_table, ref_column in cursor.fetchall():
        if not kinds[constraint]:
            continue  # no such constraint (Django's inner join drops it)
        kind = kinds[constraint].get(table) or next(iter(kinds[constraint].values()))
        entry = found[table].setdefault(
            constraint,
            {
                "columns": OrderedSet(),
                "primary_key": kind == "PRIMARY KEY",
                "unique": kind in {"PRIMARY KEY", "UNIQUE"},
                "index": False,
                "check": False,
                "foreign_key": (ref_table, ref_column) if ref_column else None,
            },
        )
        entry["columns"].add(column)


def _checks(
    cursor: Any,
    connection: Any,
    info: dict[str, list[tuple[Any, ...]]],
    found: Constraints,
) -> None:
    introspection = connection.introspection
    cursor.execute(CHECKS_MARIADB if connection.mysql_is_mariadb else CHECKS_MYSQL)
    unnamed: dict[str, int] = defaultdict(int)
    for table, constraint, clause in cursor.fetchall():
        columns = mysql_check_columns(
            introspection, clause, {column[0] for column in info.get(table, [])}
        )
        if set(columns) == {constraint}:
            unnamed[table] += 1
            constraint = f"__unnamed_constraint_{unnamed[table]}__"
        found[table][constraint] = {
            "columns": columns,
            "primary_key": False,
            "unique": False,
            "index": False,
            "check": True,
            "foreign_key": None,
        }


def _indexes(cursor: Any, found: Constraints) -> None:
    cursor.execute(INDEXES)
    for table, non_unique, index, column in cursor.fetchall():
        entry = found[table].setdefault(
            index,
            {
                "columns": OrderedSet(),
                "primary_key": False,
                "unique": not non_unique,
                "check": False,
                "foreign_key": None,
            },
        )
        entry["index"] = True
        entry["columns"].add(column)


def raw_types(cursor: Any, name: str) -> dict[str, str]:
    """Column -> ``COLUMN_TYPE`` of one table."""
    cursor.execute(RAW_TYPES, [name])
    return dict(cursor.fetchall())
