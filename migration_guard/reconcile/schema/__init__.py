"""A normalized description of database tables, compared by content.

Both sides of a schema comparison are built in these terms: the live schema
(:mod:`migration_guard.reconcile.schema.introspect`) and the schema a migration state
expects (:mod:`migration_guard.reconcile.schema.expected`). Generated names never take
part:
columns are compared by the Django field class introspection reports, length,
precision, nullability and primary key (or, for a type introspection does not
map or a field with a column type of its own, by the database's own type
name: :mod:`migration_guard.reconcile.schema.types`); foreign keys as (column, table,
column); unique constraints as column sets; indexes by their columns; check
constraints by the name the model gives them; PostgreSQL indexes on
expressions and exclusion constraints by their normalised definition.

A table is also seen as a flat mapping of *elements* (:func:`elements`), each
keyed by what it is about, so that the effect of one migration is the set of
elements whose value it changes (see :mod:`migration_guard.reconcile.schema.expected`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

ElementKind = Literal["table", "column", "fk", "unique", "index", "check", "definition"]


@dataclass(frozen=True)
class Column:
    name: str
    #: the Django field class as the backend's introspection reports it;
    #: ``None`` where introspection does not map the column's type (live) or
    #: the field's column type is its own (expected: ``db_type`` overridden)
    type: str | None
    null: bool
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    primary_key: bool = False
    #: the database's own name of the type, normalised per vendor
    #: (:mod:`migration_guard.reconcile.schema.types`): ``format_type()``,
    #: ``COLUMN_TYPE``,
    #: SQLite's declared type; expected: ``field.db_type(connection)``.
    #: ``None``: not readable (a virtual table's columns)
    db_type: str | None = None
    #: the model's own field class, for messages (BooleanField where MySQL
    #: introspection says IntegerField); not compared
    declared: str | None = field(default=None, compare=False)

    def describe(self, *, raw: bool = False) -> str:
        """``DecimalField(12,2) NOT NULL``, ``character(7) (HexColorField) NULL``...

        The type named is the one compared: the field class, or with ``raw``
        (or no class) the database's type name; the model's own class follows
        in parentheses where it differs.
        """
        if raw or self.type is None:
            kind = self.db_type or "type not readable"
        elif self.precision is not None and self.scale is not None:
            kind = f"{self.type}({self.precision},{self.scale})"
        elif self.max_length is not None:
            kind = f"{self.type}({self.max_length})"
        else:
            kind = self.type
        if self.declared and self.declared != self.type:
            kind += f" ({self.declared})"
        return f"{kind} {'NULL' if self.null else 'NOT NULL'}" + (
            " PRIMARY KEY" if self.primary_key else ""
        )


@dataclass(frozen=True)
class Definition:
    """An index or constraint compared by its normalised SQL definition."""

    #: :func:`migration_guard.reconcile.schema.types.normalise_definition` of it
    text: str
    #: the definition as read or generated, for messages; not compared
    shown: str = field(default="", compare=False)

    def describe(self) -> str:
        return self.shown or self.text


@dataclass(frozen=True)
class ForeignKey:
    column: str
    to_table: str
    to_column: str

    def describe(self) -> str:
        return (
            f"FOREIGN KEY ({self.column}) REFERENCES {self.to_table} ({self.to_column})"
        )


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    foreign_keys: dict[str, ForeignKey] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    #: unique constraints and unique indexes (primary key excluded), columns in order
    uniques: set[tuple[str, ...]] = field(default_factory=set)
    #: indexes that are neither unique nor the primary key, columns in order
    indexes: set[tuple[str, ...]] = field(default_factory=set)
    #: indexes the database made by itself for a foreign key (InnoDB)
    implied_indexes: set[tuple[str, ...]] = field(default_factory=set)
    #: named check constraints
    checks: set[str] = field(default_factory=set)
    #: indexes and constraints by name, compared by definition (PostgreSQL:
    #: every index and exclusion constraint live; expected: those on
    #: expressions and exclusion constraints)
    definitions: dict[str, Definition] = field(default_factory=dict)
    #: the module of a virtual table (``fts5``), whose columns have no type
    virtual: str | None = None

    def covers(self, columns: tuple[str, ...]) -> bool:
        """Whether an index of any kind leads with ``columns``."""
        width = len(columns)
        return any(
            candidate[:width] == columns
            for candidate in (
                self.primary_key,
                *self.uniques,
                *self.indexes,
                *self.implied_indexes,
            )
        )


#: table name -> table
Schema = dict[str, Table]

ElementKey = tuple[str, ...]
"""``("column", table, column)``, ``("unique", table, "a,b")``: :func:`elements`."""

ElementValue = Column | ForeignKey | Definition | bool
"""A column, foreign key or definition, or ``True`` for elements that only exist."""


def unique_key(table: str, columns: tuple[str, ...]) -> ElementKey:
    """Unique constraints are sets: (a, b) and (b, a) are the same one."""
    return ("unique", table, ",".join(sorted(columns)))


def index_key(table: str, columns: tuple[str, ...]) -> ElementKey:
    return ("index", table, ",".join(columns))


def elements(table: Table) -> Iterator[tuple[ElementKey, ElementValue]]:
    """The table as flat, comparable elements."""
    yield ("table", table.name), True
    for column in table.columns.values():
        yield ("column", table.name, column.name), column
    for fk in table.foreign_keys.values():
        yield ("fk", table.name, fk.column), fk
    for unique in table.uniques:
        yield unique_key(table.name, unique), True
    for index in table.indexes:
        yield index_key(table.name, index), True
    for check in table.checks:
        yield ("check", table.name, check), True
    for name, definition in table.definitions.items():
        yield ("definition", table.name, name), definition


def flatten(tables: Mapping[str, Table]) -> dict[ElementKey, ElementValue]:
    return {key: value for table in tables.values() for key, value in elements(table)}


def describe_key(key: ElementKey) -> str:
    """``column shop_order.total``, ``unique (a, b) on shop_order``..."""
    kind, table = key[0], key[1]
    if kind == "table":
        return f"table {table}"
    if kind == "column":
        return f"column {table}.{key[2]}"
    if kind == "fk":
        return f"foreign key {table}.{key[2]}"
    if kind in ("unique", "index"):
        return f"{kind} ({key[2].replace(',', ', ')}) on {table}"
    if kind == "definition":
        return f"index or constraint {key[2]} on {table}"
    return f"check constraint {key[2]} on {table}"


def describe_value(value: ElementValue | None) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "present"
    return value.describe()
