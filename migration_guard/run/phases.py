"""Deploy phases: which migrations keep the previous release working.

A zero-downtime deploy runs migrations twice: ``--phase pre-deploy`` before
the new code is rolled out applies only *expand* migrations, whose every
operation keeps the release still serving traffic working (a new table, a
nullable column, an index); ``--phase post-deploy`` after the rollout applies
the rest (*contract*: drops, renames, NOT NULL, constraints, data changes).

:func:`classify_operation` decides one operation (the table in README,
"Phases"); :func:`classify_migration` a migration, where a marker wins over
the operations:

* ours: ``migration_guard_phase = "pre-deploy"`` or ``"post-deploy"``;
* django-syzygy's ``stage = Stage.PRE_DEPLOY / Stage.POST_DEPLOY`` (on the
  migration, or on an operation);
* django-safemigrate's ``safe = Safe.before_deploy() / after_deploy() /
  always()`` (also the older ``Safe.before_deploy`` enum and ``True/False``).

The two packages are recognised by duck typing, never imported.
:func:`select` cuts a forward plan for a phase.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED, Field

from migration_guard.run.planning import Key
from migration_guard.unwrap import database_operations

MARKER = "migration_guard_phase"


class Phase(enum.Enum):
    PRE = "pre-deploy"
    POST = "post-deploy"

    def __str__(self) -> str:
        return self.value


PHASES = tuple(p.value for p in Phase)


class MarkerError(ValueError):
    """A phase marker with a value no phase matches."""


@dataclass(frozen=True)
class OperationPhase:
    """The phase of ``operations[index]``; ``neutral``: nothing a release sees."""

    index: int
    description: str
    phase: Phase
    reason: str
    neutral: bool = False

    def describe(self) -> str:
        return f"operations[{self.index}] {self.description} {self.reason}"


@dataclass(frozen=True)
class MigrationPhase:
    key: Key
    phase: Phase
    #: why, in words: the marker, or the first operation of the phase
    reason: str
    marker: str | None
    operations: tuple[OperationPhase, ...]

    @property
    def label(self) -> str:
        return f"{self.key[0]}.{self.key[1]}"

    @property
    def mixed(self) -> bool:
        """Unmarked, with operations of both phases (neutral ones aside)."""
        if self.marker is not None:
            return False
        seen = {op.phase for op in self.operations if not op.neutral}
        return len(seen) == 2

    def as_json(self) -> dict[str, Any]:
        return {"phase": self.phase.value, "reason": self.reason, "marker": self.marker}


# ---------------------------------------------------------------------------
# Markers
# ---------------------------------------------------------------------------

_SYZYGY = {"pre_deploy": Phase.PRE, "post_deployment": Phase.POST}
_SYZYGY["post_deploy"] = Phase.POST
_MIGRATION_GUARD = {
    "before_deploy": Phase.PRE,
    "always": Phase.PRE,
    "after_deploy": Phase.POST,
}


def _text(value: Any) -> Any:
    """An enum member's value, or the value itself."""
    return getattr(value, "value", value)


def syzygy_stage(holder: Any) -> Phase | None:
    """``holder.stage`` as django-syzygy writes it (``Stage.PRE_DEPLOY``...)."""
    value = getattr(holder, "stage", None)
    if value is None:
        return None
    phase = _SYZYGY.get(str(_text(value)).lower())
    if phase is None:
        raise MarkerError(
            f"stage = {value!r} is not a django-syzygy stage (pre_deploy, "
            "post_deployment)."
        )
    return phase


def migration_guard_safe(migration: Any) -> tuple[Phase, str] | None:
    """``migration.safe`` as django-safemigrate writes it, with its spelling.

    ``Safe.before_deploy()`` (5.x, an object whose ``when`` is an enum),
    ``Safe.before_deploy`` (2.x-4.x, an enum member; in 5.x the uncalled
    classmethod), ``True``/``False`` (1.x).
    """
    value = getattr(migration, "safe", None)
    if value is None:
        return None
    if isinstance(value, bool):
        name = "before_deploy" if value else "after_deploy"
    elif hasattr(value, "when"):
        name = str(_text(value.when))
    elif callable(value) and getattr(value, "__name__", "") in _MIGRATION_GUARD:
        name = value.__name__
    else:
        name = str(_text(value))
    phase = _MIGRATION_GUARD.get(name.lower())
    if phase is None:
        raise MarkerError(
            f"safe = {value!r} is not a django-safemigrate marking "
            "(Safe.before_deploy(), Safe.after_deploy(), Safe.always())."
        )
    return phase, f"safe = Safe.{name.lower()}() (django-safemigrate)"


def marker(migration: Any) -> tuple[Phase, str] | None:
    """The phase a migration is marked with, and how; None when unmarked."""
    label = f"{migration.app_label}.{migration.name}"
    try:
        value = getattr(migration, MARKER, None)
        if value is not None:
            try:
                phase = Phase(str(_text(value)).lower().replace("_", "-"))
            except ValueError:
                raise MarkerError(
                    f"{MARKER} = {value!r} is not a phase "
                    f"({', '.join(repr(p) for p in PHASES)})."
                ) from None
            return phase, f'{MARKER} = "{phase}"'
        stage = syzygy_stage(migration)
        if stage is not None:
            return (
                stage,
                f"stage = {_text(migration.stage)!r} (django-syzygy)",
            )
        return migration_guard_safe(migration)
    except MarkerError as exc:
        raise MarkerError(f"Migration {label}: {exc}") from None


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------

OldField = Callable[[str, str], "Field[Any, Any] | None"]
"""``old_field(model_name, field_name)``: the field before the operation."""
OldTogether = Callable[[str, str], set[tuple[str, ...]] | None]


#: attributes Django keeps in Python: the previous release sets its own values
PYTHON_SIDE = ("default", "auto_now", "auto_now_add")


def _field_kwargs(
    field: Field[Any, Any],
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    _, path, args, kwargs = field.deconstruct()
    for attr in (*field.non_db_attrs, *PYTHON_SIDE):
        if attr != "db_column":
            kwargs.pop(attr, None)
    return path, tuple(args), kwargs


def _alter_field(
    op: migrations.AlterField, old: Field[Any, Any] | None
) -> tuple[Phase, str, bool]:
    if old is None:
        return (
            Phase.POST,
            "changes a column whose previous definition is unknown",
            False,
        )
    old_path, old_args, old_kwargs = _field_kwargs(old)
    new_path, new_args, new_kwargs = _field_kwargs(op.field)
    if (old_path, old_args, old_kwargs) == (new_path, new_args, new_kwargs):
        return Phase.PRE, "changes no column (attributes Django keeps in Python)", True
    relaxed = {
        "null": True,
        "db_index": True,
        "db_comment": new_kwargs.get("db_comment"),
    }
    if old_path == new_path and old_args == new_args:
        changed = {
            key
            for key in set(old_kwargs) | set(new_kwargs)
            if old_kwargs.get(key) != new_kwargs.get(key)
        }
        wider = "max_length" in changed and (new_kwargs.get("max_length") or 0) > (
            old_kwargs.get("max_length") or 0
        )
        changed -= {"max_length"} if wider else set()
        if changed <= set(relaxed) and all(
            new_kwargs.get(key) == relaxed[key] for key in changed
        ):
            return (
                Phase.PRE,
                "relaxes the column (NULL allowed, longer, index or comment added)",
                False,
            )
    return (
        Phase.POST,
        "changes the column (type, NOT NULL, default, constraint...) the previous "
        "release reads and writes",
        False,
    )


_PRE, _POST = Phase.PRE, Phase.POST

#: operation types whose phase does not depend on their arguments (subclasses,
#: such as AddIndexConcurrently or AddConstraintNotValid, included)
SIMPLE: tuple[tuple[type | tuple[type, ...], Phase, str, bool], ...] = (
    (
        migrations.CreateModel,
        _PRE,
        "creates a table the previous release does not use",
        False,
    ),
    (
        migrations.DeleteModel,
        _POST,
        "drops a table the previous release still uses",
        False,
    ),
    (
        (migrations.RenameModel, migrations.AlterModelTable),
        _POST,
        "renames a table the previous release uses by its old name",
        False,
    ),
    (
        migrations.RemoveField,
        _POST,
        "drops a column the previous release still reads",
        False,
    ),
    (
        migrations.RenameField,
        _POST,
        "renames a column the previous release uses by its old name",
        False,
    ),
    (
        migrations.AddIndex,
        _PRE,
        "adds an index (the previous release's queries are unchanged)",
        False,
    ),
    (migrations.RenameIndex, _PRE, "renames an index (no query names it)", False),
    (
        migrations.RemoveIndex,
        _POST,
        "drops an index the previous release's queries may rely on",
        False,
    ),
    (
        migrations.AddConstraint,
        _POST,
        "adds a constraint the previous release's writes may violate",
        False,
    ),
    (
        migrations.RemoveConstraint,
        _PRE,
        "drops a constraint (the previous release's writes still pass)",
        False,
    ),
    (migrations.AlterIndexTogether, _PRE, "changes plain indexes only", False),
    (
        migrations.AlterOrderWithRespectTo,
        _POST,
        "adds or drops the _order column the previous release uses",
        False,
    ),
    (
        (
            migrations.AlterModelOptions,
            migrations.AlterModelManagers,
            migrations.AlterModelTableComment,
        ),
        _PRE,
        "changes no table the previous release uses",
        True,
    ),
)

#: by class name, for django.contrib.postgres operations (not imported here)
BY_NAME: dict[str, tuple[Phase, str]] = {
    "CreateExtension": (_PRE, "installs a database extension"),
    "CreateCollation": (_PRE, "installs a collation"),
    "ValidateConstraint": (
        _POST,
        "validates a constraint the previous release's rows may violate",
    ),
}


def _add_field(op: migrations.AddField) -> tuple[Phase, str, bool]:
    field = op.field
    if field.many_to_many:
        return _PRE, "creates a join table the previous release does not use", False
    if field.null:
        return (
            _PRE,
            "adds a nullable column (the previous release's inserts leave it NULL)",
            False,
        )
    if getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
        return _PRE, "adds a column with a database default (db_default)", False
    return (
        _POST,
        "adds a NOT NULL column without db_default: the previous release's "
        "inserts do not set it and fail",
        False,
    )


def _code(op: Operation) -> tuple[Phase, str, bool]:
    """RunPython, RunSQL: post-deploy unless they do nothing."""
    if isinstance(op, migrations.RunPython):
        if op.code is migrations.RunPython.noop:
            return _PRE, "does nothing", True
        what = "runs code the previous release's data may not agree with"
    else:
        if getattr(op, "sql", None) in ("", migrations.RunSQL.noop):
            return _PRE, "does nothing", True
        what = "runs SQL that cannot be judged"
    return _POST, f"{what} (mark the migration to run it before the deploy)", False


def classify_operation(
    op: Operation,
    app_label: str,
    old_field: OldField | None = None,
    old_together: OldTogether | None = None,
) -> tuple[Phase, str, bool]:
    """``(phase, reason, neutral)`` of one operation (README: "Phases").

    ``reason`` completes "operations[i] Describe(...) ...". ``old_field`` and
    ``old_together`` give the state before the operation (for AlterField and
    AlterUniqueTogether); without them those count as post-deploy.
    """
    stage = syzygy_stage(op)
    if stage is not None:
        return stage, f"is marked stage = {_text(getattr(op, 'stage', None))!r}", False
    if isinstance(op, migrations.SeparateDatabaseAndState):
        inner = [
            classify_operation(o, app_label, old_field, old_together)
            for o in database_operations(op)
        ]
        post = [item for item in inner if item[0] is _POST]
        if post:
            return _POST, post[0][1] + " (inside SeparateDatabaseAndState)", False
        if not op.database_operations:
            return _PRE, "changes Django's state only", True
        return _PRE, inner[0][1] + " (inside SeparateDatabaseAndState)", False
    if isinstance(op, migrations.RunPython | migrations.RunSQL):
        return _code(op)
    if isinstance(op, migrations.AddField):
        return _add_field(op)
    if isinstance(op, migrations.AlterField):
        old = old_field(op.model_name, op.name) if old_field is not None else None
        return _alter_field(op, old)
    if isinstance(op, migrations.AlterUniqueTogether):
        before = old_together(op.name, "unique_together") if old_together else None
        after = {tuple(item) for item in (op.option_value or ())}
        if before is not None and after <= before:
            return _PRE, "drops unique constraints only", False
        return (
            _POST,
            "adds a unique constraint the previous release's writes may violate",
            False,
        )
    for types, phase, reason, neutral in SIMPLE:
        if isinstance(op, types):
            return phase, reason, neutral
    for cls in type(op).__mro__:
        if cls.__name__ in BY_NAME:
            phase, reason = BY_NAME[cls.__name__]
            return phase, reason, False
    return (
        _POST,
        f"is a {type(op).__name__}, which migration_guard does not classify (mark the "
        "migration to run it before the deploy)",
        False,
    )


def classify_in_migration(
    op: Operation,
    app_label: str,
    created: set[str],
    old_field: OldField | None = None,
    old_together: OldTogether | None = None,
) -> tuple[Phase, str, bool]:
    """:func:`classify_operation`, knowing the tables created earlier in the migration.

    ``created`` (model names, lower case) is updated: an operation on a table
    created earlier in the same migration is pre-deploy, as its CreateModel.
    """
    model = getattr(op, "model_name", None) or (
        getattr(op, "name", None)
        if isinstance(
            op,
            migrations.AlterUniqueTogether
            | migrations.AlterIndexTogether
            | migrations.AlterOrderWithRespectTo,
        )
        else None
    )
    if isinstance(op, migrations.CreateModel):
        created.add(op.name_lower)
    elif model is not None and str(model).lower() in created:
        return Phase.PRE, "changes a table created earlier in this migration", False
    return classify_operation(op, app_label, old_field, old_together)


class _StateWalk:
    """The project state before each operation of one migration, built lazily."""

    def __init__(self, migration: Migration, loader: MigrationLoader | None) -> None:
        self.migration = migration
        self.loader = loader
        self.state: ProjectState | None = None
        self.position = 0
        self.failed = False

    def at(self, index: int) -> ProjectState | None:
        key = (self.migration.app_label, self.migration.name)
        if self.failed or self.loader is None or key not in self.loader.graph.nodes:
            return None
        if self.state is None:
            self.state = self.loader.project_state(key, at_end=False)
        try:
            while self.position < index:
                operation = self.migration.operations[self.position]
                operation.state_forwards(self.migration.app_label, self.state)
                self.position += 1
        except Exception:  # a custom operation that cannot run on this state
            self.failed = True
            return None
        return self.state

    def field(self, index: int, model_name: str, name: str) -> Field[Any, Any] | None:
        state = self.at(index)
        if state is None:
            return None
        return state_lookups(self.migration.app_label, state)[0](model_name, name)

    def together(
        self, index: int, model_name: str, option: str
    ) -> set[tuple[str, ...]] | None:
        state = self.at(index)
        if state is None:
            return None
        return state_lookups(self.migration.app_label, state)[1](model_name, option)


def classify_migration(
    migration: Migration, loader: MigrationLoader | None = None
) -> MigrationPhase:
    """The phase of a migration: its marker, else post-deploy if any operation is."""
    from migration_guard.gates.lint import describe

    walk = _StateWalk(migration, loader)
    operations = []
    created: set[str] = set()
    for index, op in enumerate(migration.operations):
        phase, reason, neutral = classify_in_migration(
            op,
            migration.app_label,
            created,
            functools.partial(walk.field, index),
            functools.partial(walk.together, index),
        )
        operations.append(OperationPhase(index, describe(op), phase, reason, neutral))
    return combine(migration, operations)


def combine(
    migration: Migration, operations: Sequence[OperationPhase]
) -> MigrationPhase:
    """The phase of a migration from its marker and its operations' phases."""
    key = (migration.app_label, migration.name)
    marked = marker(migration)
    if marked is not None:
        return MigrationPhase(
            key, marked[0], f"marked {marked[1]}", marked[1], tuple(operations)
        )
    post = [op for op in operations if op.phase is Phase.POST]
    if post:
        return MigrationPhase(
            key, Phase.POST, post[0].describe(), None, tuple(operations)
        )
    real = [op for op in operations if not op.neutral] or operations
    reason = real[0].describe() if real else "has no operations"
    if len(real) > 1:
        more = len(real) - 1
        reason += f" (and {more} more pre-deploy operation{'s' if more > 1 else ''})"
    return MigrationPhase(key, Phase.PRE, reason, None, tuple(operations))


# ---------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------


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
    classified = [classify_migration(m, loader) for m in migrations_in_order]
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


MIXED = "migration_guard.W013"


def state_lookups(app_label: str, state: ProjectState) -> tuple[OldField, OldTogether]:
    """``old_field`` and ``old_together`` reading ``state``."""

    def old_field(model: str, name: str) -> Field[Any, Any] | None:
        model_state = state.models.get((app_label, model.lower()))
        return None if model_state is None else model_state.fields.get(name)

    def old_together(model: str, option: str) -> set[tuple[str, ...]] | None:
        model_state = state.models.get((app_label, model.lower()))
        if model_state is None:
            return None
        return {tuple(item) for item in model_state.options.get(option) or ()}

    return old_field, old_together


def classify_history(
    loader: MigrationLoader, app_labels: Iterable[str]
) -> list[tuple[Migration, MigrationPhase | MarkerError]]:
    """Every migration of the apps (in dependency order) with its phase.

    One walk of the history (:func:`migration_guard.gates.locks.history`); a marker no
    phase matches is returned as its error.
    """
    from migration_guard.gates.lint import describe
    from migration_guard.gates.locks import history

    found: dict[Key, tuple[Migration, list[OperationPhase]]] = {}
    created: dict[Key, set[str]] = {}
    for migration, index, op, state in history(loader, app_labels):
        key = (migration.app_label, migration.name)
        old_field, old_together = state_lookups(migration.app_label, state)
        phase, reason, neutral = classify_in_migration(
            op,
            migration.app_label,
            created.setdefault(key, set()),
            old_field,
            old_together,
        )
        entry = found.setdefault(key, (migration, []))
        entry[1].append(OperationPhase(index, describe(op), phase, reason, neutral))
    result: list[tuple[Migration, MigrationPhase | MarkerError]] = []
    for migration, operations in found.values():
        try:
            result.append((migration, combine(migration, operations)))
        except MarkerError as exc:
            result.append((migration, exc))
    return result


def mixed(loader: MigrationLoader, app_labels: Iterable[str]) -> list[Any]:
    """W013 findings (:class:`migration_guard.gates.lint.Finding`), silenced ones left
    out.

    A migration whose operations are of both phases runs as a whole after the
    deploy, holding its expand operations back; a marker no phase matches is
    reported here too.
    """
    from migration_guard.gates.lint import SILENCE_ATTRIBUTE, Finding, silenced_ids

    findings = []
    for migration, verdict in classify_history(loader, app_labels):
        if MIXED in silenced_ids(migration):
            continue
        if isinstance(verdict, MarkerError):
            findings.append(
                Finding(
                    MIXED,
                    migration.app_label,
                    migration.name,
                    0,
                    str(verdict),
                    f'Write {MARKER} = "pre-deploy" or "post-deploy".',
                )
            )
            continue
        if not verdict.mixed:
            continue
        real = [op for op in verdict.operations if not op.neutral]
        pre = [op for op in real if op.phase is Phase.PRE]
        post = [op for op in real if op.phase is Phase.POST]
        findings.append(
            Finding(
                MIXED,
                migration.app_label,
                migration.name,
                pre[0].index,
                f"operations[{pre[0].index}] {pre[0].description} can run before "
                f"the deploy but operations[{post[0].index}] {post[0].description} "
                f"{post[0].reason}: the whole migration waits for --phase "
                "post-deploy.",
                "Split it: move "
                + ", ".join(f"operations[{op.index}]" for op in pre)
                + " into a migration of their own before it (pre-deploy), "
                "or mark it with "
                f'{MARKER} = "post-deploy", or silence it: '
                f'{SILENCE_ATTRIBUTE} = ["{MIXED}"].',
            )
        )
    return findings


def phases_of(loader: MigrationLoader, keys: Iterable[Key]) -> dict[Key, str]:
    """``"pre-deploy"``/``"post-deploy"`` of each migration (for rollbackplan).

    A marker no phase matches reads ``"unknown (...)"`` with the error.
    """
    wanted = set(keys)
    found: dict[Key, str] = {}
    for migration, verdict in classify_history(loader, {app for app, _ in wanted}):
        key = (migration.app_label, migration.name)
        if key in wanted:
            found[key] = (
                f"unknown ({verdict})"
                if isinstance(verdict, MarkerError)
                else verdict.phase.value
            )
    return found
