"""Django's database backend internals: server cursors, test names, introspection.

Checked on Django 5.2, 6.0 and 6.1 (each function says what it relies on);
``tests/test_compat.py`` compares each with Django's own result on SQLite,
PostgreSQL and MariaDB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from django.utils.datastructures import OrderedSet


def nodb_cursor(connection: Any) -> AbstractContextManager[Any]:
    """A cursor on ``connection``'s server, outside its database.

    ``BaseDatabaseWrapper._nodb_cursor()``, what the test runner creates and
    drops test databases with (PostgreSQL: the ``postgres`` database, else
    the first database it may connect to; MySQL: no database selected).
    Checked on Django 5.2, 6.0, 6.1: private, a context manager yielding a
    cursor.
    """
    cursor: AbstractContextManager[Any] = connection._nodb_cursor()
    return cursor


def runner_database_name(connection: Any) -> str:
    """The name ``connection``'s test database gets: ``TEST["NAME"]`` or test_ + NAME.

    ``BaseDatabaseCreation._get_test_db_name()`` (SQLite: ``:memory:``
    unless ``TEST["NAME"]`` is set). Checked on Django 5.2, 6.0, 6.1:
    private, the last element of ``creation.test_db_signature()`` on
    PostgreSQL and MySQL.
    """
    return str(connection.creation._get_test_db_name())


def replace_introspection(connection: Any, introspection: Any) -> Any:
    """Make ``introspection`` ``connection``'s; returns the one it replaces.

    ``BaseDatabaseWrapper.introspection`` is a plain instance attribute set
    in ``__init__`` that the schema editor reads on every use, so an object
    answering its methods can stand in for a while. Checked on Django 5.2,
    6.0, 6.1.
    """
    previous = connection.introspection
    connection.introspection = introspection
    return previous


def mysql_check_columns(
    introspection: Any, clause: str, columns: Iterable[str]
) -> OrderedSet[str]:
    """The columns of ``columns`` a MySQL/MariaDB CHECK clause names.

    ``DatabaseIntrospection._parse_constraint_columns(check_clause,
    columns)`` of the MySQL backend: the backquoted names in the clause
    that are columns, in order, as ``get_constraints`` reports a check's
    columns. Checked on Django 5.2, 6.0, 6.1: private, same body.
    """
    found: OrderedSet[str] = introspection._parse_constraint_columns(
        clause, set(columns)
    )
    return found


_CONSTRAINT_CLAUSE = re.compile(r"\b(check|unique|constraint)\b", re.IGNORECASE)
_LIGHT: dict[type, type] = {}


def light_sqlite_introspection(base: type) -> type:
    """Django's SQLite introspection ``base``, without collations and orders.

    ``get_table_description`` parses each table's SQL with sqlparse for the
    columns' collations and ``get_constraints`` every index's for the
    columns' orders (three quarters of reading a schema); the subclass
    answers ``None`` collations and orders, and parses a table's own
    constraints only when its SQL has a CHECK, UNIQUE or CONSTRAINT clause
    (there are none otherwise). Everything else is Django's code.

    Overrides three private methods of
    ``django.db.backends.sqlite3.introspection.DatabaseIntrospection``:
    ``_get_column_collations(cursor, table_name) -> dict``,
    ``_get_index_columns_orders(sql) -> list | None`` and
    ``_parse_table_constraints(sql, columns) -> dict``. Checked on Django
    5.2, 6.0, 6.1: same names, signatures and callers (a missing collation
    reads as ``None``; ``None`` orders leave ``orders`` out of an index).
    """
    if base not in _LIGHT:

        class Light(base):  # type: ignore[misc]
            def _get_column_collations(
                self, cursor: Any, table_name: str
            ) -> dict[str, Any]:
                return {}

            def _get_index_columns_orders(self, sql: str) -> None:
                return None

            def _parse_table_constraints(self, sql: str, columns: Any) -> Any:
                if _CONSTRAINT_CLAUSE.search(sql) is None:
                    return {}
                return super()._parse_table_constraints(sql, columns)

        Light.__name__ = Light.__qualname__ = f"Light{base.__name__}"
        _LIGHT[base] = Light
    return _LIGHT[base]
