"""Expected schema elements against the live schema: a pure function.

Nothing here touches a database: the live side is a :data:`Schema` read
beforehand, the expected side a mapping of elements (``None`` meaning "must
be absent"). Each :class:`Difference` names the table, column or constraint
and both sides, precisely enough to act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migration_guard.reconcile.schema import (
    Column,
    Definition,
    ElementKey,
    ElementValue,
    ForeignKey,
    Schema,
    Table,
    describe_key,
    describe_value,
    flatten,
)
from migration_guard.reconcile.schema.diff import Element, report_order, tidy


@dataclass(frozen=True)
class Difference(Element):
    """An expected element the live schema does not agree with."""

    expected: ElementValue | None
    found: ElementValue | None

    def __str__(self) -> str:
        what = describe_key(self.key)
        if self.expected is None:
            return f"{what}: expected absent, found {describe_value(self.found)}"
        if self.found is None:
            if isinstance(self.expected, bool):
                return f"{what}: missing"
            return f"{what}: missing (expected {self.expected.describe()})"
        if isinstance(self.expected, Column) and isinstance(self.found, Column):
            raw = by_type_name(self.expected, self.found)
            expected = self.expected.describe(raw=raw)
            found = self.found.describe(raw=raw)
        else:
            expected = describe_value(self.expected)
            found = describe_value(self.found)
        return f"{what}: expected {expected}, found {found}"

    def as_json(self) -> dict[str, object]:
        return {
            "element": list(self.key),
            "expected": describe_value(self.expected)
            if self.expected is not None
            else None,
            "found": describe_value(self.found) if self.found is not None else None,
            "message": str(self),
        }


def by_type_name(expected: Column, found: Column) -> bool:
    """Whether two columns are compared by type name, not by field class.

    When the live type has no Django field class (``tsvector``, ``geometry``,
    ``citext``, arrays, ranges) or the field's column type is its own.
    """
    return expected.type is None or found.type is None


def columns_agree(expected: Column, found: Column) -> bool:
    """Same type, nullability and primary key; sizes where both know them.

    The type is the field class, or by :func:`by_type_name` the database's
    type name (not held against either side when one cannot be read: a
    virtual table's columns). SQLite reports no precision for decimals, and
    some types no length: a size the live side does not report is not held
    against it.
    """
    if (expected.null, expected.primary_key) != (found.null, found.primary_key):
        return False
    if by_type_name(expected, found):
        return (
            not expected.db_type
            or not found.db_type
            or (expected.db_type == found.db_type)
        )
    if expected.type != found.type:
        return False
    return all(
        want is None or got is None or want == got
        for want, got in (
            (expected.max_length, found.max_length),
            (expected.precision, found.precision),
            (expected.scale, found.scale),
        )
    )


def found_value(key: ElementKey, live: Schema) -> ElementValue | None:
    """What the live schema has for ``key`` (``None``: nothing)."""
    kind, name = key[0], key[1]
    table = live.get(name)
    if table is None:
        return None
    if kind == "table":
        return True
    if kind == "column":
        return table.columns.get(key[2])
    if kind == "fk":
        return table.foreign_keys.get(key[2])
    if kind == "unique":
        wanted = frozenset(key[2].split(","))
        return True if any(frozenset(u) == wanted for u in table.uniques) else None
    if kind == "index":
        return True if tuple(key[2].split(",")) in table.indexes else None
    if kind == "definition":
        return table.definitions.get(key[2])
    return True if key[2] in table.checks else None


def agrees(key: ElementKey, expected: ElementValue | None, live: Schema) -> bool:
    """Whether the live schema has ``expected`` for ``key`` (absent for ``None``)."""
    kind = key[0]
    table: Table | None = live.get(key[1])
    if table is not None and table.virtual and kind not in ("table", "column"):
        return True  # nothing else of a virtual table can be read
    if kind == "index" and table is not None:
        columns = tuple(key[2].split(","))
        if expected is None:
            # an index InnoDB keeps for a foreign key is not the one removed
            return columns not in table.indexes
        return table.covers(columns)
    found = found_value(key, live)
    if expected is None or found is None:
        return expected is None and found is None
    if isinstance(expected, Column):
        return isinstance(found, Column) and columns_agree(expected, found)
    if isinstance(expected, ForeignKey | Definition):
        return found == expected
    return True


def compare(
    expected: Mapping[ElementKey, ElementValue | None], live: Schema
) -> list[Difference]:
    """Every expected element the live schema does not agree with."""
    return [
        Difference(key, value, found_value(key, live))
        for key, value in sorted(
            expected.items(), key=lambda item: report_order(item[0])
        )
        if not agrees(key, value, live)
    ]


def compare_schemas(expected: Schema, live: Schema) -> list[Difference]:
    """The differences between an expected schema and the live one.

    Live tables and columns the expected side does not mention are not
    differences (other apps, unmanaged models, extra indexes).
    """
    return tidy(compare(flatten(expected), live))
