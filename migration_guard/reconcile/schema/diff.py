"""Two schemas element by element: what differs, in the order reports give it.

Every comparison of schemas is made of :data:`elements
<migration_guard.reconcile.schema.ElementKey>`: a migration's effect
(:mod:`.expected`), a round trip's leftovers (:mod:`migration_guard.gates.roundtrip`),
the expected schema against the live one (:mod:`.compare`). :func:`diff` is
the difference between two schemas; :func:`tidy` puts differences in report
order, a table present on one side only standing for all of its elements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from migration_guard.reconcile.schema import ElementKey, ElementValue, Table, flatten

#: an element's value before and after (``None``: absent)
Change = tuple[ElementValue | None, ElementValue | None]


def diff(
    before: Mapping[str, Table], after: Mapping[str, Table]
) -> dict[ElementKey, Change]:
    """Every element whose value differs between two schemas, both ways."""
    old, new = flatten(before), flatten(after)
    return {
        key: (old.get(key), new.get(key))
        for key in old.keys() | new.keys()
        if old.get(key) != new.get(key)
    }


@dataclass(frozen=True)
class Element:
    """Something reported about one element of a schema."""

    key: ElementKey

    @property
    def table(self) -> str:
        return self.key[1]


_KIND_ORDER = {
    "table": 0, "column": 1, "fk": 2, "unique": 3, "index": 4, "definition": 5,
    "check": 6,
}  # fmt: skip


def report_order(key: ElementKey) -> tuple[str, int, tuple[str, ...]]:
    """By table, then the table itself, columns, foreign keys, constraints."""
    return (key[1], _KIND_ORDER.get(key[0], 9), key[2:])


Reported = TypeVar("Reported", bound=Element)


def tidy(reported: Iterable[Reported]) -> list[Reported]:
    """In report order, a table's own difference standing for all of its elements.

    A missing (or extra) table is one difference, not one per column and
    constraint.
    """
    listed = list(reported)
    whole = {item.table for item in listed if item.key[0] == "table"}
    return sorted(
        (item for item in listed if item.key[0] == "table" or item.table not in whole),
        key=lambda item: report_order(item.key),
    )
