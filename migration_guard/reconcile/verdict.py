"""Each migration against the live schema: applied, drifted, fakeable, pending.

Every element a migration changes (:mod:`migration_guard.reconcile.schema.expected`) is
written by a chain of migrations, ``v0 -> v1 -> ... -> vn``. The live value
agrees with some positions of that chain; a migration at position ``j`` is
consistent with being applied when the live value agrees with a position
``>= j``, and with not being applied when it agrees with one ``< j``. An
element that agrees with one side only is evidence; one that agrees with
both (a column added, then dropped) is not. Evidence found for one
migration narrows the chains of the others (if ``0001`` is applied, the
live value is not ``v0`` of its chains), and so does the graph (what a
migration with effects present depends on was applied; what depends on one
with effects absent was not), until nothing changes.

A migration's effects are *present* when every element agrees with it being
applied and at least one is evidence; *absent* for the opposite. Nothing is
recorded (faked) or unrecorded unless verified that way: a migration whose
only effects are code (``RunPython``, ``RunSQL``) is *not verifiable*.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.migrations import operations as ops
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration

from migration_guard.exceptions import UsageError, VerificationRefused
from migration_guard.reconcile.schema import ElementKey, ElementValue, Schema
from migration_guard.reconcile.schema.compare import Difference, agrees, found_value
from migration_guard.reconcile.schema.diff import tidy
from migration_guard.reconcile.schema.expected import (
    Delta,
    graph_order,
    migration_deltas,
)
from migration_guard.reconcile.schema.introspect import snapshot
from migration_guard.run.planning import Key as Key  # the reconcile command's
from migration_guard.run.planning import OfMigration

Effects = Literal["present", "absent", "conflicting", "ambiguous", "none", "code"]
Status = Literal["applied", "drift", "fakeable", "pending", "partial", "not verifiable"]

#: what each status means, for the text output
STATUS_TEXT: dict[str, str] = {
    "applied": "applied, effects present",
    "drift": "applied, effects missing (drift)",
    "fakeable": "not applied, effects present (can be faked)",
    "pending": "not applied, effects absent (pending)",
    "partial": "not applied; the schema matches neither side of it",
    "not verifiable": "not verifiable from the schema",
}


@dataclass
class Verdict(OfMigration):
    migration: Migration
    applied: bool
    delta: Delta
    #: what contradicts "applied" / "not applied", element by element
    if_applied: list[Difference] = field(default_factory=list)
    if_unapplied: list[Difference] = field(default_factory=list)
    #: elements that could not tell (an effect undone by a later migration)
    ambiguous: int = 0

    @property
    def effects(self) -> Effects:
        if self.if_applied and self.if_unapplied:
            return "conflicting"
        if self.if_unapplied:
            return "present"
        if self.if_applied:
            return "absent"
        if self.ambiguous:
            return "ambiguous"
        return "code" if self.delta.unverifiable else "none"

    @property
    def status(self) -> Status:
        effects = self.effects
        if effects in ("ambiguous", "code"):
            return "not verifiable"
        if self.applied:
            return "applied" if effects in ("present", "none") else "drift"
        unapplied: dict[str, Status] = {
            "present": "fakeable",
            "none": "fakeable",
            "absent": "pending",
            "conflicting": "partial",
        }
        return unapplied[effects]

    @property
    def differences(self) -> list[Difference]:
        """What contradicts the recorded history (drift, partial) or nothing.

        Both compare with the migration applied: drift is a recorded one whose
        effects are missing, partial an unrecorded one whose effects are half
        there.
        """
        return self.if_applied if self.status in ("drift", "partial") else []

    @property
    def checked(self) -> int:
        return len(self.delta.changes)

    def note(self) -> str:
        """Why a migration is not verifiable, or that it needs no check."""
        effects = self.effects
        if effects == "code":
            return "runs code only: " + "; ".join(self.delta.unverifiable)
        if effects == "ambiguous":
            return "its effects are undone by later migrations"
        if effects == "none":
            return "no schema effect (state only)"
        if self.delta.unverifiable:
            return "not verifiable: " + "; ".join(self.delta.unverifiable)
        return ""

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.migration.app_label,
            "name": self.migration.name,
            "applied": self.applied,
            "status": self.status,
            "effects": self.effects,
            "elements": self.checked,
            "note": self.note(),
            "differences": [d.as_json() for d in self.differences],
        }


@dataclass
class Reconciliation:
    verdicts: list[Verdict]
    live: Schema
    loader: MigrationLoader

    def by_key(self) -> dict[Key, Verdict]:
        return {verdict.key: verdict for verdict in self.verdicts}

    def select(self, app_label: str | None, name: str | None) -> list[Verdict]:
        return [
            verdict
            for verdict in self.verdicts
            if (app_label is None or verdict.migration.app_label == app_label)
            and (name is None or verdict.migration.name == name)
        ]


@dataclass
class _Chain:
    """The migrations that write one element, in order, and its values."""

    writers: list[Key] = field(default_factory=list)
    values: list[ElementValue | None] = field(default_factory=list)  # v0..vn
    agreeing: list[int] = field(default_factory=list)


def reconcile(
    loader: MigrationLoader, connection: Any, *, applied: Iterable[Key] | None = None
) -> Reconciliation:
    """Classify every migration of the graph against the live schema."""
    order = graph_order(loader)
    deltas = migration_deltas(loader, connection, order)
    chains: dict[ElementKey, _Chain] = defaultdict(_Chain)
    for migration in order:
        key = (migration.app_label, migration.name)
        for element, (before, after) in deltas[key].changes.items():
            chain = chains[element]
            if not chain.values:
                chain.values.append(before)
            chain.writers.append(key)
            chain.values.append(after)
    live = snapshot(connection, {element[1] for element in chains})
    for element, chain in chains.items():
        chain.agreeing = [
            j for j, value in enumerate(chain.values) if agrees(element, value, live)
        ]
    recorded = set(loader.applied_migrations if applied is None else applied)
    verdicts = {
        (m.app_label, m.name): Verdict(
            m, (m.app_label, m.name) in recorded, deltas[(m.app_label, m.name)]
        )
        for m in order
    }
    _weigh(chains, verdicts, live, loader.graph)
    for verdict in verdicts.values():
        verdict.if_applied = tidy(verdict.if_applied)
        verdict.if_unapplied = tidy(verdict.if_unapplied)
    return Reconciliation(list(verdicts.values()), live, loader)


def _weigh(
    chains: dict[ElementKey, _Chain],
    verdicts: dict[Key, Verdict],
    live: Schema,
    graph: MigrationGraph,
) -> None:
    """Fill each verdict's evidence, narrowing the chains until stable."""
    known: dict[Key, bool] = {}
    for _ in range(10):
        for verdict in verdicts.values():
            verdict.if_applied, verdict.if_unapplied, verdict.ambiguous = [], [], 0
        for element, chain in chains.items():
            agreeing = _narrowed(chain, known)
            found = found_value(element, live)
            for j, writer in enumerate(chain.writers, start=1):
                verdict = verdicts[writer]
                if not agreeing or max(agreeing) < j:
                    verdict.if_applied.append(
                        Difference(element, chain.values[j], found)
                    )
                if not agreeing or min(agreeing) >= j:
                    verdict.if_unapplied.append(
                        Difference(element, chain.values[j - 1], found)
                    )
                if agreeing and max(agreeing) >= j > min(agreeing):
                    verdict.ambiguous += 1
        now = _implied(
            {
                key: verdict.effects == "present"
                for key, verdict in verdicts.items()
                if verdict.effects in ("present", "absent")
            },
            graph,
        )
        if now == known:
            return
        known = now


def _implied(own: dict[Key, bool], graph: MigrationGraph) -> dict[Key, bool]:
    """What the schema showed, and what the graph adds where it showed nothing.

    A migration whose effects are present had everything it depends on
    applied before it; one whose effects are absent left everything that
    depends on it unapplied. That tells a column added and later dropped
    (absent either way) from one never added.
    """
    known = dict(own)
    for applied, step in ((True, "parents"), (False, "children")):
        todo = [key for key, value in own.items() if value is applied]
        while todo:
            for node in getattr(graph.node_map[todo.pop()], step):
                if node.key not in known:
                    known[node.key] = applied
                    todo.append(node.key)
    return known


def _narrowed(chain: _Chain, known: dict[Key, bool]) -> list[int]:
    """The agreeing positions that fit what other elements showed."""
    fitting = [
        position
        for position in chain.agreeing
        if all(
            (j <= position) == known[writer]
            for j, writer in enumerate(chain.writers, start=1)
            if writer in known
        )
    ]
    return fitting or chain.agreeing


# --- recording -------------------------------------------------------------


@dataclass
class Decision:
    verdict: Verdict
    act: bool
    why: str = ""
    forced: bool = False

    @property
    def verification(self) -> str:
        """What the ledger keeps about a record: as ``guard_fake`` words it."""
        if self.forced:
            return "forced"
        return verification(self.verdict.effects)


def verification(effects: Effects) -> str:
    """A record the schema agrees with is verified, unless there was nothing to see."""
    return "no schema effect" if effects == "none" else "verified"


def fake_decisions(
    result: Reconciliation,
    selected: list[Verdict],
    *,
    force: bool,
) -> list[Decision]:
    """Which unapplied migrations to record, in graph order, and why not others.

    A migration is recorded only with its effects verified present (or with
    nothing to verify), or when it is not verifiable and ``force`` is given,
    and only when each of its dependencies is applied or recorded too.
    """
    graph = result.loader.graph
    applied = {v.key for v in result.verdicts if v.applied}
    decisions = []
    for verdict in selected:
        if verdict.applied:
            continue
        status = verdict.status
        if status == "fakeable":
            decision = Decision(verdict, True)
        elif status == "not verifiable" and force:
            decision = Decision(verdict, True, forced=True)
        elif status == "not verifiable":
            decision = Decision(
                verdict, False, f"{verdict.note()}; --force-fake --reason records it"
            )
        else:
            decision = Decision(verdict, False, STATUS_TEXT[status])
        if decision.act:
            missing = [
                f"{parent[0]}.{parent[1]}"
                for parent in sorted(
                    node.key for node in graph.node_map[verdict.key].parents
                )
                if parent not in applied
            ]
            if missing:
                decision = Decision(
                    verdict, False, f"depends on {', '.join(missing)}, not applied"
                )
        if decision.act:
            applied.add(verdict.key)
        decisions.append(decision)
    return decisions


def unfake_decisions(result: Reconciliation, selected: list[Verdict]) -> list[Decision]:
    """Which applied migrations to unrecord (effects verified absent), last first."""
    graph = result.loader.graph
    applied = {v.key for v in result.verdicts if v.applied}
    decisions = []
    for verdict in reversed(selected):
        if not verdict.applied:
            continue
        if verdict.effects != "absent":
            why = (
                "its effects are present"
                if verdict.effects in ("present", "none")
                else verdict.note() or "its effects are only partly absent"
            )
            decisions.append(Decision(verdict, False, why))
            continue
        dependents = [
            f"{child[0]}.{child[1]}"
            for child in sorted(
                node.key for node in graph.node_map[verdict.key].children
            )
            if child in applied
        ]
        if dependents:
            decisions.append(
                Decision(verdict, False, f"{', '.join(dependents)} still applied")
            )
            continue
        applied.discard(verdict.key)
        decisions.append(Decision(verdict, True))
    return decisions


# --- guarded fakes in guardedmigrate ------------------------------------------


def may_soft_apply(migration: Migration) -> bool:
    """Whether ``--fake-initial`` may fake ``migration`` if its tables exist.

    As ``MigrationExecutor.detect_soft_applied`` decides before it looks at
    the schema: an initial migration (``initial = True``, or unset and with
    no dependency in its own app, as in most of Django's contrib apps) whose
    own operations create a model or add a field.
    """
    initial = migration.initial
    if initial is None:
        initial = all(app != migration.app_label for app, _ in migration.dependencies)
    return bool(initial) and any(
        isinstance(operation, ops.CreateModel | ops.AddField)
        for operation in migration.operations
    )


def guard_fake(
    plan: Any, *, fake_initial: bool, force: bool, reason: str
) -> dict[Key, dict[str, Any]]:
    """Verify a ``--fake`` / ``--fake-initial`` plan; refuse what does not match.

    Returns, per migration, what the ledger keeps about its verification.
    Raises :class:`VerificationRefused` (exit 4) before anything is written.
    """
    steps = plan.steps
    if not steps:
        return {}
    if force and not reason.strip():
        raise UsageError("--force-fake needs --reason TEXT, which the ledger keeps.")
    executor = plan.executor
    verdicts = reconcile(executor.loader, executor.connection).by_key()
    notes: dict[Key, dict[str, Any]] = {}
    refused: list[str] = []
    for step in steps:
        verdict = verdicts.get(step.key)
        if verdict is None:  # a squashed migration's replaced ones are not in the graph
            continue
        if (
            fake_initial
            and not step.backwards
            and (not may_soft_apply(verdict.migration) or verdict.effects == "absent")
        ):
            continue  # migrate applies it for real
        note = _fake_note(verdict, step.backwards, force, reason)
        if isinstance(note, str):
            refused.append(note)
        else:
            notes[step.key] = note
    if refused:
        raise VerificationRefused(
            _refusal(refused, steps[0].backwards, executor.connection.alias)
        )
    return notes


def _fake_note(
    verdict: Verdict, backwards: bool, force: bool, reason: str
) -> dict[str, Any] | str:
    """What the ledger keeps of recording ``verdict``'s migration, or why not."""
    wanted, against = (
        ("absent", verdict.if_unapplied)
        if backwards
        else ("present", verdict.if_applied)
    )
    effects = verdict.effects
    if effects in (wanted, "none"):
        return {"verification": verification(effects)}
    if effects in ("ambiguous", "code"):
        if force:
            return {"verification": "forced", "reason": reason, "note": verdict.note()}
        return (
            f"{verdict.label}: not verifiable ({verdict.note()}); "
            "--force-fake --reason TEXT records it anyway"
        )
    if force:
        return {
            "verification": "forced",
            "reason": reason,
            "differences": [str(d) for d in against],
        }
    return f"{verdict.label}: effects not {wanted}:\n" + "\n".join(
        f"    {difference}" for difference in against
    )


def _refusal(refused: list[str], backwards: bool, alias: str) -> str:
    return (
        f"Refusing to record {len(refused)} migration"
        f"{'s' if len(refused) != 1 else ''} as "
        f"{'unapplied' if backwards else 'applied'} on database "
        f"'{alias}'; nothing was changed.\n  "
        + "\n  ".join(refused)
        + "\nFix the schema, run without --fake, or pass --force-fake "
        "--reason TEXT to record them anyway (the ledger keeps the reason "
        "and the differences)."
    )
