"""The phase of a migration, and of every migration of an app's history.

A marker wins over the operations; a migration whose operations are of both
phases is reported (W013).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models import Field

from migration_guard.run.phases.base import (
    MARKER,
    MarkerError,
    MigrationPhase,
    OperationPhase,
    Phase,
)
from migration_guard.run.phases.markers import marker
from migration_guard.run.phases.operations import (
    OldField,
    OldTogether,
    classify_operation,
)
from migration_guard.run.planning import Key
from migration_guard.walk import StateWalk, Visit


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


def classify_migrations(
    migrations_in_order: Sequence[Migration], loader: MigrationLoader | None = None
) -> list[MigrationPhase]:
    """The phase of each migration: its marker, else post-deploy if any operation is.

    With ``loader``, an operation is classified knowing the state before it
    (the field it alters, the old ``unique_together``...), from the one walk
    of the history (:class:`migration_guard.walk.StateWalk`).
    """
    found: dict[Key, MigrationPhase] = {}
    if loader is not None:
        nodes = loader.graph.nodes
        wanted = {key for m in migrations_in_order if (key := _key(m)) in nodes}
        for visit in StateWalk(loader, until=wanted):
            if visit.key in wanted:
                found[visit.key] = _classify(visit.migration, visit)
    return [found.get(_key(m)) or _classify(m, None) for m in migrations_in_order]


def classify_migration(
    migration: Migration, loader: MigrationLoader | None = None
) -> MigrationPhase:
    """The phase of one migration (:func:`classify_migrations`)."""
    return classify_migrations([migration], loader)[0]


def _key(migration: Migration) -> Key:
    return (migration.app_label, migration.name)


def _classify(migration: Migration, visit: Visit | None) -> MigrationPhase:
    """Classify each operation with the state before it, moving ``visit`` on.

    Without a visit, or once an operation cannot move the state (a custom
    one), the operations are classified without the state.
    """
    from migration_guard.gates.lint import describe

    operations = []
    created: set[str] = set()
    state = None if visit is None else visit.state
    for index, op in enumerate(migration.operations):
        lookups = (
            (None, None) if state is None else state_lookups(migration.app_label, state)
        )
        phase, reason, neutral = classify_in_migration(
            op, migration.app_label, created, *lookups
        )
        operations.append(OperationPhase(index, describe(op), phase, reason, neutral))
        if visit is not None and state is not None:
            try:
                visit.step()
            except Exception:  # a custom operation that cannot run on this state
                visit.skip()
                state = None
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
