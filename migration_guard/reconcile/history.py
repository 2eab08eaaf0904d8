"""The history in ``django_migrations`` as ``migrate`` writes it, and its gaps.

``reconcile --fake``/``--unfake`` write rows exactly as the executor does
for squashed migrations (``MigrationExecutor.record_migration``,
``unapply_migration``, ``check_replacements``), and tell what ``migrate``
would refuse as an inconsistent history once they are written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.recorder import MigrationRecorder

from migration_guard.reconcile.verdict import Decision, Reconciliation
from migration_guard.run.planning import Key, inconsistencies


def record(connection: Any, migration: Migration, *, applied: bool) -> None:
    """Write (or delete) the ``django_migrations`` rows of ``migration``.

    As ``migrate`` writes them: a squashed migration's rows are those of the
    migrations it replaces and its own (``MigrationExecutor.record_migration``
    then ``check_replacements``; ``unapply_migration`` deletes both).
    """
    recorder = MigrationRecorder(connection)
    for app_label, name in [*migration.replaces, (migration.app_label, migration.name)]:
        if applied:
            recorder.record_applied(app_label, name)
        else:
            recorder.record_unapplied(app_label, name)


def record_replacements(connection: Any, loader: MigrationLoader) -> list[Key]:
    """Record each squashed migration whose replaced ones are all recorded now.

    What ``MigrationExecutor.check_replacements`` does at the end of every
    ``migrate``: faking the last replaced migration records the squash too.
    """
    recorder = MigrationRecorder(connection)
    applied = set(recorder.applied_migrations())
    added = []
    for key, migration in sorted(loader.replacements.items()):
        if key not in applied and all(m in applied for m in migration.replaces):
            recorder.record_applied(*key)
            added.append(key)
    return added


def history_gaps(
    result: Reconciliation, decisions: Iterable[Decision] = (), *, forwards: bool = True
) -> list[tuple[Key, Key]]:
    """Applied migrations before a dependency that is not, once ``decisions`` ran.

    What ``migrate`` refuses as an inconsistent history (``planning.load``).
    """
    applied = set(result.loader.applied_migrations)
    for decision in decisions:
        if decision.act and forwards:
            applied.add(decision.verdict.key)
        elif decision.act:
            applied.discard(decision.verdict.key)
    return inconsistencies(result.loader, applied)
