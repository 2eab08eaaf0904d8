"""What a round trip reports: per migration, and for the whole run.

Each migration's :class:`MigrationResult` (ok, the schema elements its
backward step did not restore, irreversible, the step that failed), and the
:class:`Report` of a round trip (:mod:`migration_guard.gates.roundtrip`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from migration_guard.reconcile.schema import (
    ElementValue,
    Schema,
    describe_key,
    describe_value,
)
from migration_guard.reconcile.schema.diff import Element, diff, tidy

Status = Literal["ok", "mismatch", "irreversible", "error", "not run"]


@dataclass(frozen=True)
class SchemaChange(Element):
    """An element the backward step did not put back as it was."""

    #: before the migration was applied (``None``: absent)
    before: ElementValue | None
    #: after it was applied and unapplied (``None``: absent)
    after: ElementValue | None

    @property
    def column(self) -> str | None:
        return self.key[2] if self.key[0] in ("column", "fk") else None

    def __str__(self) -> str:
        what = describe_key(self.key)
        if self.before is None:
            return f"{what} left behind ({describe_value(self.after)})"
        if self.after is None:
            return f"{what} missing (was {describe_value(self.before)})"
        return (
            f"{what} is {describe_value(self.after)}, was {describe_value(self.before)}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "element": list(self.key),
            "table": self.table,
            "column": self.column,
            "before": None if self.before is None else describe_value(self.before),
            "after": None if self.after is None else describe_value(self.after),
            "message": str(self),
        }


def schema_changes(before: Schema, after: Schema) -> list[SchemaChange]:
    """Every element that differs between two live snapshots, both ways.

    A table present on one side only is one change, not one per column.
    """
    return tidy(
        SchemaChange(key, old, new) for key, (old, new) in diff(before, after).items()
    )


@dataclass
class MigrationResult:
    app_label: str
    name: str
    status: Status
    apply: float = 0.0
    unapply: float = 0.0
    reapply: float = 0.0
    changes: list[SchemaChange] = field(default_factory=list)
    #: the error of a step that raised, or what makes it irreversible
    error: str = ""
    #: which step raised: "apply", "unapply" or "re-apply"
    step: str = ""
    #: tables compared (None: all of them)
    tables: list[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "error")

    @property
    def seconds(self) -> float:
        return self.apply + self.unapply + self.reapply

    def describe(self) -> str:
        """One line: ``OK``, ``backward step leaves ...``, ``IRREVERSIBLE: ...``."""
        if self.status == "ok":
            return "OK"
        if self.status == "mismatch":
            text = "the backward step does not restore the schema: " + "; ".join(
                str(change) for change in self.changes
            )
            if self.error:
                text += f"; re-applying it then failed: {self.error}"
            return text
        if self.status == "irreversible":
            return f"IRREVERSIBLE: {self.error}"
        if self.status == "error":
            return f"{self.step} failed: {self.error}"
        return f"not run: {self.error}"

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app_label,
            "name": self.name,
            "status": self.status,
            "message": self.describe(),
            "seconds": {
                "apply": round(self.apply, 6),
                "unapply": round(self.unapply, 6),
                "reapply": round(self.reapply, 6),
            },
            "differences": [change.as_json() for change in self.changes],
            "error": self.error or None,
            "step": self.step or None,
            "tables_compared": self.tables,
        }


@dataclass
class Report:
    alias: str
    vendor: str
    #: where it ran: "postgresql database 'test_x'", "temporary SQLite file ..."
    where: str
    app_labels: list[str]
    results: list[MigrationResult] = field(default_factory=list)
    #: migrations of other apps, applied forwards only
    applied_only: int = 0
    seconds: float = 0.0
    #: why the round trip stopped before the end, if it did
    stopped: str = ""

    @property
    def failures(self) -> list[MigrationResult]:
        return [result for result in self.results if result.failed]

    @property
    def irreversible(self) -> list[MigrationResult]:
        return [r for r in self.results if r.status == "irreversible"]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stopped

    def summary(self) -> dict[str, int]:
        counts = {"ok": 0, "mismatch": 0, "irreversible": 0, "error": 0}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def lines(self) -> list[str]:
        """The failures, one paragraph each, for a message or an assertion."""
        out = []
        for result in self.failures:
            out.append(f"{result.label}: {result.describe()}")
        if self.stopped:
            out.append(f"Stopped: {self.stopped}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.alias,
            "vendor": self.vendor,
            "scratch": self.where,
            "apps": self.app_labels,
            "migrations": [result.as_json() for result in self.results],
            "applied_only": self.applied_only,
            "summary": self.summary(),
            "stopped": self.stopped or None,
            "seconds": round(self.seconds, 6),
        }
