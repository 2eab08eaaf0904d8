"""The revert preview: what undoing each migration does, and how to go back.

The effects of undoing each operation of a backward plan
(:mod:`migration_guard.rollback.effects`), per migration with the dependency
chain that pulls it in, and the strategy: unapply, restore a backup, or
nothing to undo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from migration_guard.backup.storage import Manifest, get_store
from migration_guard.rollback.backward_sql import BackwardSQL
from migration_guard.rollback.effects import Effect, Previewer, Risk
from migration_guard.run.planning import Key, Plan, Reason, backward_reasons
from migration_guard.walk import plan_walk


@dataclass
class MigrationPreview:
    key: Key
    reason: Reason
    atomic: bool
    effects: list[Effect] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.key[0]}.{self.key[1]}"

    @property
    def reversible(self) -> bool:
        return all(effect.reversible for effect in self.effects)

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.key[0],
            "name": self.key[1],
            "reason": self.reason.describe(),
            "chain": [f"{a}.{n}" for a, n in self.reason.chain],
            "reversible": self.reversible,
            "atomic": self.atomic,
            "operations": [effect.as_json() for effect in self.effects],
        }


@dataclass
class Preview:
    plan: Plan
    migrations: list[MigrationPreview]

    @property
    def irreversible(self) -> list[MigrationPreview]:
        return [m for m in self.migrations if not m.reversible]

    @property
    def risks(self) -> list[Risk]:
        return [r for m in self.migrations for e in m.effects for r in e.risks]


def build_preview(
    plan: Plan, *, measure: bool = True, sql: BackwardSQL | None = None
) -> Preview:
    """The revert preview of a backward ``plan`` (empty for a forward one).

    One walk of the history gives the effects of each operation and, handed
    ``sql``, each migration's backward SQL (collected before the effects
    move the walk's state past the migration).
    """
    previewer = Previewer(connections[plan.executor.connection.alias])
    backwards = plan.direction == "backwards"
    reasons = backward_reasons(plan) if backwards else {}
    migrations = [
        MigrationPreview(
            step.key,
            reasons.get(step.key, Reason((step.key,), "")),
            step.migration.atomic,
        )
        for step in plan.steps
    ]
    by_key = {preview.key: preview for preview in migrations} if backwards else {}
    for visit in plan_walk(plan) if backwards or sql is not None else ():
        if sql is not None:
            sql.visit(visit)  # the state before the migration: not moved
        preview = by_key.get(visit.key)
        if preview is None:
            continue
        for operation, state in visit.operations():
            preview.effects += previewer.effects(
                visit.migration.app_label, operation, state, False
            )
        preview.effects.reverse()  # undone last operation first
    if backwards and measure:
        previewer.measure()
    return Preview(plan, migrations)


@dataclass
class Strategy:
    """How the rollback can be done."""

    name: str  # "unapply" | "restore" | "none"
    backup: Manifest | None
    note: str

    def describe(self) -> str:
        if self.name == "restore" and self.backup is not None:
            return f"restore {self.backup.id} ({self.note})"
        return f"{self.name} ({self.note})"


def backups_for(alias: str, applied: set[str]) -> list[Manifest]:
    """Backups of this very database taken when exactly ``applied`` was applied.

    Newest first. Only backups of the database the alias points at now
    (its identity, see :mod:`migration_guard.backup.identity`): another database
    behind the same alias name (a staging copy) is not this one.
    """
    from migration_guard.backup.catalog import backups_of

    return [
        manifest
        for manifest in backups_of(alias, get_store())
        if set(manifest.applied_before) == applied
    ]


def unapply_note(preview: Preview) -> str:
    """Why unapplying does it, and what it does not bring back."""
    emptied = [
        effect.emptied
        for migration in preview.migrations
        for effect in migration.effects
        if effect.emptied
    ]
    dropped = any(
        risk.count != 0 for risk in preview.risks if risk.kind in ("table", "column")
    )
    if not emptied and not dropped:
        return "every operation can be undone"
    note = "every operation has a reverse"
    if emptied:
        note += (
            "; the schema comes back, not the data deleted when the plan was "
            "applied (re-created empty: " + ", ".join(emptied) + ")"
        )
    if dropped:
        note += "; the data at risk above is dropped"
    return note


def choose_strategy(preview: Preview, backups: list[Manifest]) -> Strategy:
    if not preview.migrations:
        return Strategy("none", None, "nothing to undo")
    irreversible = preview.irreversible
    if not irreversible:
        return Strategy("unapply", None, unapply_note(preview))
    names = ", ".join(m.label for m in irreversible)
    if backups:
        return Strategy(
            "restore", backups[0], f"irreversible: {names}; only a restore goes back"
        )
    return Strategy(
        "restore",
        None,
        f"irreversible: {names}, and no backup holds the state to go back to",
    )


def state_after(preview: Preview) -> set[str]:
    """The applied set once the plan is undone."""
    undone = {m.label for m in preview.migrations}
    return {f"{a}.{n}" for a, n in preview.plan.loader.applied_migrations} - undone
