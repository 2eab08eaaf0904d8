"""Targets -> plan: target resolution written once, with errors that say what to do.

Every command that takes ``[app_label] [migration_name]`` resolves them here,
so an unknown app, an unknown or ambiguous migration name and an undefined
database alias give the same one-line error (exit 1) everywhere, before
anything is locked, backed up or written.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration

from migration_guard.exceptions import UsageError

Key = tuple[str, str]
Target = tuple[str, str | None]
DirectionName = Literal["forwards", "backwards", "none"]


def check_alias(alias: str) -> None:
    """Raise a UsageError naming the defined aliases if ``alias`` is undefined."""
    if alias not in connections.settings:
        defined = ", ".join(sorted(connections.settings)) or "(none)"
        raise UsageError(
            f"Database alias '{alias}' is not defined in settings.DATABASES "
            f"(defined: {defined}). Pass one of those with --database."
        )


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "(none)"


@dataclass(frozen=True)
class TargetSpec:
    """What the user asked for: ``[app_label] [migration_name]``."""

    app_label: str | None = None
    migration_name: str | None = None


@dataclass
class Resolution:
    targets: list[Target]
    #: True when the user named no migration: every leaf of the app(s).
    app_labels_only: bool


def resolve_targets(
    loader: MigrationLoader, spec: TargetSpec, *, run_syncdb: bool = False
) -> Resolution:
    """Resolve ``spec`` to migration targets exactly as ``migrate`` does.

    Squashed migrations resolve as Django resolves them: a partially applied
    squash is not in the graph, so its last replaced migration is the target.
    """
    app_label = spec.app_label
    if app_label is None:
        if spec.migration_name is not None:
            raise UsageError("A migration name needs an app label before it.")
        return Resolution(targets=loader.graph.leaf_nodes(), app_labels_only=True)
    try:
        apps.get_app_config(app_label)
    except LookupError:
        raise UsageError(
            f"No installed app with label '{app_label}'. Apps with migrations: "
            f"{_names(loader.migrated_apps)}."
        ) from None
    if run_syncdb:
        if app_label in loader.migrated_apps:
            raise UsageError(
                f"Can't use --run-syncdb with app '{app_label}' as it has "
                "migrations. Drop --run-syncdb to apply its migrations."
            )
    elif app_label not in loader.migrated_apps:
        raise UsageError(
            f"App '{app_label}' does not have migrations. Create them with "
            f"'manage.py makemigrations {app_label}', or pass --run-syncdb."
        )
    if spec.migration_name is None:
        leaves = [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
        return Resolution(targets=leaves, app_labels_only=True)
    if spec.migration_name == "zero":
        return Resolution(targets=[(app_label, None)], app_labels_only=False)
    return Resolution(
        targets=[resolve_migration(loader, app_label, spec.migration_name)],
        app_labels_only=False,
    )


def resolve_migration(
    loader: MigrationLoader, app_label: str, name: str, *, zero: bool = True
) -> Key:
    """The key of the migration of ``app_label`` named ``name`` or a unique prefix.

    ``zero``: whether the command also takes "zero" (the error message says so).
    """
    available = sorted(n for a, n in loader.disk_migrations if a == app_label)
    try:
        migration = loader.get_migration_by_prefix(app_label, name)
    except AmbiguityError:
        matches = [n for n in available if n.startswith(name)]
        raise UsageError(
            f"More than one migration matches '{name}' in app '{app_label}': "
            f"{', '.join(matches)}. Please be more specific."
        ) from None
    except KeyError:
        raise UsageError(
            f"Cannot find a migration matching '{name}' from app '{app_label}'. "
            f"Its migrations: {_names(available)}"
            + (" (or 'zero' to unapply all)." if zero else ".")
        ) from None
    key: Key = (app_label, migration.name)
    if key not in loader.graph.nodes and key in loader.replacements:
        key = loader.replacements[key].replaces[-1]
    return key


def check_conflicts(loader: MigrationLoader) -> None:
    conflicts = loader.detect_conflicts()
    if conflicts:
        detail = "; ".join(
            f"{', '.join(names)} in {app}" for app, names in sorted(conflicts.items())
        )
        raise UsageError(
            "Conflicting migrations detected; multiple leaf nodes in the "
            f"migration graph: ({detail}). To fix them run "
            "'python manage.py makemigrations --merge'."
        )


class OfMigration:
    """Something about one migration: its :data:`Key` and its ``app.name`` label."""

    migration: Migration

    @property
    def key(self) -> Key:
        return (self.migration.app_label, self.migration.name)

    @property
    def label(self) -> str:
        return f"{self.migration.app_label}.{self.migration.name}"


@dataclass(frozen=True)
class Step(OfMigration):
    """One migration of a plan."""

    migration: Migration
    backwards: bool

    def as_json(self) -> dict[str, object]:
        return {
            "app": self.migration.app_label,
            "name": self.migration.name,
            "backwards": self.backwards,
        }


@dataclass
class Plan:
    executor: MigrationExecutor
    resolution: Resolution
    steps: list[Step] = field(default_factory=list)

    @property
    def loader(self) -> MigrationLoader:
        return self.executor.loader

    @property
    def django_plan(self) -> list[tuple[Migration, bool]]:
        return [(step.migration, step.backwards) for step in self.steps]

    @property
    def direction(self) -> DirectionName:
        if not self.steps:
            return "none"
        return "backwards" if self.steps[0].backwards else "forwards"

    def keys(self) -> tuple[Key, ...]:
        return tuple(step.key for step in self.steps)

    def applied_keys(self) -> list[str]:
        return sorted(f"{a}.{n}" for a, n in self.loader.applied_migrations)


def load(
    alias: str,
    executor: MigrationExecutor | None = None,
    *,
    allow_inconsistent: bool = False,
) -> MigrationExecutor:
    """An executor for ``alias`` whose history is consistent and conflict-free.

    ``allow_inconsistent``: for ``reconcile``, which reports an inconsistent
    history and repairs it instead of refusing.
    """
    check_alias(alias)
    if executor is None:
        executor = MigrationExecutor(connections[alias])
    problems = [] if allow_inconsistent else inconsistencies(executor.loader)
    if problems:
        migration, parent = problems[0]
        database = "" if alias == DEFAULT_DB_ALIAS else f" --database {alias}"
        raise UsageError(
            f"Migration {migration[0]}.{migration[1]} is applied before its "
            f"dependency {parent[0]}.{parent[1]} on database '{alias}'. Run "
            f"'manage.py reconcile --fake{database}' to record the dependencies "
            "whose effects the schema verifies ('manage.py reconcile' lists "
            "them), or unapply the dependent migration first."
        )
    check_conflicts(executor.loader)
    return executor


def inconsistencies(
    loader: MigrationLoader, applied: Iterable[Key] | None = None
) -> list[tuple[Key, Key]]:
    """Each applied migration whose dependency is not applied, as Django checks it.

    ``(migration, dependency)`` pairs, sorted. ``applied`` defaults to the
    loader's history: ``MigrationLoader.check_consistent_history`` reads
    ``django_migrations`` again, the loader already holds those rows, and
    ``migrate`` runs its own check right after, so this one works from memory.
    A squashed dependency counts as applied when everything it replaces is.
    """
    done = set(loader.applied_migrations if applied is None else applied)
    found = []
    for migration in sorted(done):
        if migration not in loader.graph.nodes:
            continue
        for parent in sorted(
            node.key for node in loader.graph.node_map[migration].parents
        ):
            if parent in done:
                continue
            replacement = loader.replacements.get(parent)
            if replacement is not None and all(m in done for m in replacement.replaces):
                continue
            found.append((migration, parent))
    return found


def plan_for(executor: MigrationExecutor, resolution: Resolution) -> Plan:
    """The plan of ``resolution``'s targets; refuse plans Django cannot run."""
    steps = [
        Step(migration, backwards)
        for migration, backwards in executor.migration_plan(resolution.targets)
    ]
    if len({step.backwards for step in steps}) > 1:
        raise UsageError(
            "The plan mixes forwards and backwards migrations ("
            + ", ".join(("-" if s.backwards else "+") + s.label for s in steps)
            + "), which Django cannot run. Migrate in two steps."
        )
    return Plan(executor=executor, resolution=resolution, steps=steps)


def build_plan(
    alias: str,
    spec: TargetSpec,
    *,
    run_syncdb: bool = False,
    executor: MigrationExecutor | None = None,
) -> Plan:
    """Load the graph of database ``alias`` and compute the plan for ``spec``.

    Raises UsageError for bad targets, conflicts, an inconsistent history and
    plans that mix forwards and backwards steps (Django would fail midway).
    """
    executor = load(alias, executor)
    resolution = resolve_targets(executor.loader, spec, run_syncdb=run_syncdb)
    return plan_for(executor, resolution)


def targets_before(
    loader: MigrationLoader, applied_before: Iterable[str]
) -> list[Target]:
    """Per-app targets that bring the database back to ``applied_before``.

    For every app with a migration applied now but not in ``applied_before``
    (a ledger run's state before it ran), the target is that app's latest
    migration in ``applied_before``, or ``zero``.
    """
    before = {tuple(key.split(".", 1)) for key in applied_before}
    now = set(loader.applied_migrations)
    targets: list[Target] = []
    for app in sorted({app for app, _ in now - before}):
        mine = {key for key in before if key[0] == app and key in loader.graph.nodes}
        latest = [
            key
            for key in mine
            if not any(child in mine for child in loader.graph.node_map[key].children)
        ]
        targets.append(max(latest) if latest else (app, None))  # type: ignore[arg-type]
    return targets


@dataclass(frozen=True)
class Reason:
    """Why a migration is in a backward plan.

    ``chain`` runs from a migration the target unapplies directly (the
    target's next migration in its app, or its app's first one for ``zero``)
    to this migration; each one depends on the one before it.
    """

    chain: tuple[Key, ...]
    root: str

    def describe(self) -> str:
        """``depends on a.0003, which depends on a.0002 (a goes back to 0001)``.

        Long runs inside one app are shortened to their ends ("... 7 more in
        app00 ..."); the edges between apps and the root are always named.
        The full chain is in :attr:`chain` (and in ``--format json``).
        """
        if len(self.chain) == 1:
            return self.root
        labels = list(reversed(self.chain[:-1]))
        keep = {0, len(labels) - 1}
        for i in range(len(labels) - 1):
            if labels[i][0] != labels[i + 1][0]:  # an edge between apps
                keep |= {i, i + 1}
        parts: list[str] = []
        skipped = 0
        for i, (app, name) in enumerate(labels):
            if i not in keep:
                skipped += 1
                continue
            if skipped:
                parts.append(f"... {skipped} more in {app} ...")
                skipped = 0
            parts.append(f"{app}.{name}")
        text = f"depends on {parts[0]}" + "".join(
            f", {part}" if part.startswith("...") else f", which depends on {part}"
            for part in parts[1:]
        )
        return f"{text} ({self.root})"


def backward_reasons(plan: Plan) -> dict[Key, Reason]:
    """For each migration of a backward plan, the dependency chain that pulls it in.

    The roots are found as ``MigrationExecutor.migration_plan`` finds them;
    a walk over dependents gives each migration the chain a reader expects:
    the fewest edges between apps, then the fewest edges, and among equal
    chains the one whose last edge stays in the migration's own app. Each
    chain names actual dependency edges.
    """
    graph = plan.loader.graph
    in_plan = {step.key for step in plan.steps}
    roots: dict[Key, str] = {}
    for app, name in plan.resolution.targets:
        if name is None:
            for root in graph.root_nodes(app):
                roots[root] = f"{app} goes back to zero"
        else:
            for child in graph.node_map[(app, name)].children:
                if child[0] == app:
                    roots[child] = f"{app} goes back to {name}"
    # Dijkstra over (edges between apps, edges, last edge leaves the app)
    cost: dict[Key, tuple[int, int, int]] = {}
    parents: dict[Key, Key | None] = {}
    heap: list[tuple[tuple[int, int, int], Key, Key | None]] = [
        ((0, 0, 0), root, None) for root in sorted(roots) if root in in_plan
    ]
    heapq.heapify(heap)
    while heap:
        (across, length, _), node, parent = heapq.heappop(heap)
        if node in parents:
            continue
        parents[node] = parent
        for child in sorted(graph.node_map[node].children):
            if child in in_plan and child not in parents:
                leaves = int(child[0] != node[0])
                step = (across + leaves, length + 1, leaves)
                if step < cost.get(child, (len(in_plan) + 1, 0, 0)):
                    cost[child] = step
                    heapq.heappush(heap, (step, child, node))
    reasons: dict[Key, Reason] = {}
    for key in in_plan:
        chain = [key]
        while (parent := parents.get(chain[-1])) is not None:
            chain.append(parent)
        chain.reverse()
        reasons[key] = Reason(tuple(chain), roots.get(chain[0], "unapplied"))
    return reasons


def history_order(loader: MigrationLoader) -> list[Migration]:
    """Every migration of the graph, in the order the executor applies them.

    The one source of the order that every walk over the history follows.
    Once the executor has planned to a migration inside an applied squash,
    Django's clean-start plan lists both the squash and the migrations it
    replaces; applying both to one state applies their operations twice (a
    RemoveField fails the second time). Such a squash is left out: the
    replaced migrations are the finer steps, and the ones a plan unapplies.
    """
    executor = MigrationExecutor.__new__(MigrationExecutor)
    executor.loader = loader
    order = [
        migration
        for migration, _ in executor.migration_plan(
            loader.graph.leaf_nodes(), clean_start=True
        )
    ]
    keys = {(m.app_label, m.name) for m in order}
    doubled = {
        key
        for key, squash in loader.replacements.items()
        if key in keys and any(replaced in keys for replaced in squash.replaces)
    }
    return [m for m in order if (m.app_label, m.name) not in doubled]
