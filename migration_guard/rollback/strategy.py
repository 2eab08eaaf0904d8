"""What a rollback undoes and how: its backward plan and the strategy for it.

Shared by ``rollbackplan`` (the preview), ``rollback`` (undo a ledger run)
and ``guardedmigrate`` (a backward target): the plan comes from a target or
from a ledger run, the strategy from the preview and the backups of the
database the alias points at now.
"""

from __future__ import annotations

from dataclasses import dataclass

from migration_guard.backup import scope_history
from migration_guard.backup.catalog import find
from migration_guard.backup.identity import belongs_to, database_identity
from migration_guard.backup.storage import Manifest
from migration_guard.exceptions import RestoreRequired, UsageError
from migration_guard.models import MigrationRun
from migration_guard.rollback.preview import (
    Preview,
    Strategy,
    backups_for,
    build_preview,
    choose_strategy,
    state_after,
)
from migration_guard.run import ledger
from migration_guard.run.planning import (
    Plan,
    Resolution,
    TargetSpec,
    build_plan,
    load,
    plan_for,
    resolve_targets,
    targets_before,
)


@dataclass(frozen=True)
class RollbackTarget:
    """Where to go back to: a migration of an app, or before a ledger run."""

    app_label: str | None = None
    migration_name: str | None = None
    #: the latest successful guardedmigrate run (``--last``)
    last: bool = False
    #: the ledger's run ``run_id`` (``--run ID``)
    run_id: int | None = None

    @property
    def by_run(self) -> bool:
        return self.last or self.run_id is not None


def rollback_plan(
    alias: str, target: RollbackTarget
) -> tuple[Plan, MigrationRun | None]:
    """The backward plan asked for, and the ledger run it undoes (or None)."""
    if target.by_run and target.app_label:
        raise UsageError(
            "Give a target (app_label migration_name) or --last/--run, not both."
        )
    if target.last and target.run_id is not None:
        raise UsageError("Give --last or --run ID, not both.")
    executor = load(alias)
    if target.by_run:
        run = ledger.find_run(alias, target.run_id)
        targets = targets_before(executor.loader, run.applied_before)
        return plan_for(executor, Resolution(targets, app_labels_only=False)), run
    if not target.app_label or not target.migration_name:
        raise UsageError(
            "Name where to go back to: rollbackplan app_label migration_name "
            "(or zero), or --last / --run ID."
        )
    spec = TargetSpec(target.app_label, target.migration_name)
    plan = plan_for(executor, resolve_targets(executor.loader, spec))
    if plan.direction == "forwards":
        raise UsageError(
            f"{spec.app_label} {spec.migration_name} is ahead of the database: "
            "that is a forward migration, not a rollback ('guardedmigrate --plan')."
        )
    return plan, None


def strategy_for(alias: str, preview: Preview, run: MigrationRun | None) -> Strategy:
    """The strategy, with a backup of the database ``alias`` points at now."""
    return choose_strategy(preview, available_backups(alias, preview, run))


def available_backups(
    alias: str, preview: Preview, run: MigrationRun | None
) -> list[Manifest]:
    """The backups that bring ``alias`` back to before ``run`` (or to the
    state once ``preview`` is undone), newest first.

    A run's own backup counts only if it is of this database: a ledger
    restored from another database's backup names that database's backups.
    A plan-scoped backup counts only while no migration outside its plan
    changed the database since (:mod:`migration_guard.backup.scope_history`).
    """
    if run is not None and run.backup_id:
        try:
            backups = [find(run.backup_id)]
        except UsageError:
            backups = []
        current = database_identity(alias)
        backups = [m for m in backups if belongs_to(m, alias, current)]
    else:
        backups = backups_for(alias, state_after(preview))
    return [m for m in backups if scope_history.usable(m, alias)]


def backward(
    alias: str, spec: TargetSpec, *, run_syncdb: bool
) -> tuple[Plan, Preview, Strategy] | None:
    """The plan to ``spec`` with its revert preview, if it goes backwards."""
    if spec.migration_name is None:
        return None  # only a named target can go backwards
    plan = build_plan(alias, spec, run_syncdb=run_syncdb)
    if plan.direction != "backwards":
        return None
    preview = build_preview(plan)
    return plan, preview, strategy_for(alias, preview, None)


def refuse_irreversible(alias: str, preview: Preview, strategy: Strategy) -> None:
    """A backward plan that cannot be unapplied: only a restore goes back (exit 8)."""
    if not preview.irreversible:
        return
    command = (
        f"manage.py migrationbackups restore {strategy.backup.id} --database {alias}"
        if strategy.backup is not None
        else "a restore of a backup taken at that state (none was found)"
    )
    raise RestoreRequired(
        "This backward plan cannot be unapplied: "
        + ", ".join(m.label for m in preview.irreversible)
        + f" cannot be reversed. Only a restore goes back: {command}"
    )
