"""The part of a forward plan that a phase applies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration

from migration_guard.run.phases.base import MarkerError, MigrationPhase, Phase
from migration_guard.run.phases.history import classify_migrations
from migration_guard.run.planning import Key


@dataclass(frozen=True)
class Left:
    """A migration a phase does not apply; ``waits_for``: its post-deploy ancestor."""

    phase: MigrationPhase
    waits_for: Key | None = None

    def describe(self) -> str:
        if self.phase.phase is Phase.POST:
            return self.phase.label
        if self.waits_for is not None:
            return (
                f"{self.phase.label} (pre-deploy, but depends on "
                f"{self.waits_for[0]}.{self.waits_for[1]}, which is post-deploy)"
            )
        return f"{self.phase.label} (pre-deploy, but later in the plan)"


@dataclass(frozen=True)
class Selection:
    phase: Phase
    applied: tuple[MigrationPhase, ...]
    stopped_at: MigrationPhase | None
    left: tuple[Left, ...]

    def keys(self) -> list[Key]:
        return [m.key for m in self.applied]

    def lines(self) -> list[str]:
        total = len(self.applied) + len(self.left)
        pre = sum(1 for m in self.applied if m.phase is Phase.PRE)
        if self.phase is Phase.POST:
            return [
                f"Phase post-deploy: {total} migration{'s' if total != 1 else ''} "
                f"to apply ({pre} of them pre-deploy ones not applied before)."
            ]
        head = (
            f"Phase pre-deploy: {len(self.applied)} of {total} migration"
            f"{'s' if total != 1 else ''} to apply"
        )
        if self.stopped_at is None:
            return [head + "."]
        lines = [
            f"{head}; stopped before {self.stopped_at.label}, which is post-deploy: "
            f"{self.stopped_at.reason}.",
            "  Left for --phase post-deploy: "
            + ", ".join(left.describe() for left in self.left)
            + ".",
        ]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "applied": [m.label for m in self.applied],
            "stopped_at": None
            if self.stopped_at is None
            else {"migration": self.stopped_at.label, "reason": self.stopped_at.reason},
            "left": [
                {
                    "migration": left.phase.label,
                    "phase": left.phase.phase.value,
                    "waits_for": None
                    if left.waits_for is None
                    else f"{left.waits_for[0]}.{left.waits_for[1]}",
                }
                for left in self.left
            ],
        }


def select(
    migrations_in_order: Sequence[Migration],
    phase: Phase,
    *,
    loader: MigrationLoader | None = None,
    parents: Callable[[Key], Iterable[Key]] | None = None,
) -> Selection:
    """The part of a forward plan that ``phase`` applies.

    Pre-deploy takes the plan in order and stops before its first post-deploy
    migration: what follows waits (a pre-deploy migration among it is named
    with the post-deploy migration it depends on, in any app). Post-deploy
    applies the whole plan (what the pre-deploy phase left, and anything
    pre-deploy not applied yet).
    """
    classified = classify_migrations(migrations_in_order, loader)
    if phase is Phase.POST:
        return Selection(phase, tuple(classified), None, ())
    cut = next(
        (i for i, item in enumerate(classified) if item.phase is Phase.POST),
        len(classified),
    )
    if cut == len(classified):
        return Selection(phase, tuple(classified), None, ())
    rest = classified[cut:]
    post = {item.key for item in rest if item.phase is Phase.POST}
    if parents is None and loader is not None:
        graph = loader.graph

        def parents(key: Key) -> Iterable[Key]:
            return [node.key for node in graph.node_map[key].parents]

    left = []
    for item in rest:
        waits = None
        if item.phase is Phase.PRE and parents is not None:
            waits = _post_ancestor(item.key, post, parents)
        left.append(Left(item, waits))
    return Selection(phase, tuple(classified[:cut]), classified[cut], tuple(left))


def _post_ancestor(
    key: Key, post: set[Key], parents: Callable[[Key], Iterable[Key]]
) -> Key | None:
    """The nearest post-deploy migration ``key`` depends on, breadth first."""
    seen = {key}
    frontier = [key]
    while frontier:
        following = []
        for node in frontier:
            for parent in sorted(parents(node)):
                if parent in post:
                    return parent
                if parent not in seen:
                    seen.add(parent)
                    following.append(parent)
        frontier = following
    return None


def restrict(plan: Any, phase: Phase | str) -> tuple[Any, Selection]:
    """``plan`` (a :class:`migration_guard.run.planning.Plan`) cut to ``phase``."""
    from migration_guard.exceptions import UsageError
    from migration_guard.run.planning import Plan

    phase = Phase(phase)
    if plan.direction == "backwards":
        raise UsageError(
            f"--phase {phase} applies migrations forwards; this plan unapplies "
            "migrations. Drop --phase to go back."
        )
    try:
        selection = select(
            [step.migration for step in plan.steps], phase, loader=plan.loader
        )
    except MarkerError as exc:
        raise UsageError(f"{exc} Nothing was changed.") from None
    keep = set(selection.keys())
    steps = [step for step in plan.steps if step.key in keep]
    return Plan(
        executor=plan.executor, resolution=plan.resolution, steps=steps
    ), selection
