"""``manage.py rollbackplan``: the dependency-aware revert preview. Executes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from migration_guard.backup.catalog import find
from migration_guard.backup.identity import belongs_to, database_identity
from migration_guard.backup.logpos import log_positions, recovery_points
from migration_guard.exceptions import RestoreRequired, UsageError
from migration_guard.management import render
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.rollback.backward_sql import backward_sql, write_backward_sql
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
    load,
    plan_for,
    resolve_targets,
    targets_before,
)


def add_target_arguments(parser: CommandParser, verb: str = "Undo") -> None:
    parser.add_argument("app_label", nargs="?", help="App label of the target.")
    parser.add_argument(
        "migration_name",
        nargs="?",
        help='Migration (name or unique prefix) to go back to, or "zero".',
    )
    parser.add_argument(
        "--last",
        action="store_true",
        help=f"{verb} the latest successful guardedmigrate run (from the ledger).",
    )
    parser.add_argument(
        "--run", type=int, metavar="ID", help=f"{verb} the ledger's run ID."
    )


def rollback_plan(alias: str, options: dict[str, Any]) -> tuple[Plan, Any]:
    """The backward plan asked for, and the ledger run it undoes (or None)."""
    by_run = options["last"] or options["run"] is not None
    if by_run and options["app_label"]:
        raise UsageError(
            "Give a target (app_label migration_name) or --last/--run, not both."
        )
    if options["last"] and options["run"] is not None:
        raise UsageError("Give --last or --run ID, not both.")
    executor = load(alias)
    if by_run:
        run = ledger.find_run(alias, options["run"])
        targets = targets_before(executor.loader, run.applied_before)
        return plan_for(executor, Resolution(targets, app_labels_only=False)), run
    if not options["app_label"] or not options["migration_name"]:
        raise UsageError(
            "Name where to go back to: rollbackplan app_label migration_name "
            "(or zero), or --last / --run ID."
        )
    spec = TargetSpec(options["app_label"], options["migration_name"])
    resolution = resolve_targets(executor.loader, spec)
    plan = plan_for(executor, resolution)
    if plan.direction == "forwards":
        raise UsageError(
            f"{spec.app_label} {spec.migration_name} is ahead of the database: "
            "that is a forward migration, not a rollback ('guardedmigrate --plan')."
        )
    return plan, None


def strategy_for(alias: str, preview: Preview, run: Any) -> Strategy:
    """The strategy, with a backup of the database ``alias`` points at now.

    A run's own backup counts only if it is of this database: a ledger
    restored from another database's backup names that database's backups.
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
    return choose_strategy(preview, backups)


class Command(MigrationGuardCommand):
    help = (
        "Show what undoing migrations would do, across apps, with the data at "
        "risk and the backups that can restore the point. Executes nothing."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_target_arguments(parser, "Preview undoing")
        self.add_database_argument(parser)
        self.add_format_argument(parser, "dot", "mermaid")
        parser.add_argument("--sql", action="store_true", help="Show the backward SQL.")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        plan, run = rollback_plan(alias, options)
        preview = build_preview(plan)
        strategy = strategy_for(alias, preview, run)
        fmt = options["format"]
        if fmt == "json":
            document = render.preview_document(preview, strategy, run)
            document["log_positions"] = log_positions(run, strategy.backup)
            if options["sql"]:
                document["backward_sql"] = [
                    step.as_json() for step in backward_sql(plan)
                ]
            self.write_json(document)
        elif fmt == "dot":
            self.stdout.write(render.preview_dot(preview))
        elif fmt == "mermaid":
            self.stdout.write(render.preview_mermaid(preview))
        else:
            for line in render.preview_lines(preview, strategy, run, self.style):
                self.stdout.write(line)
            for line in recovery_points(run, strategy.backup):
                self.stdout.write(line)
            if options["sql"]:
                self.stdout.write(self.style.MIGRATE_HEADING("Backward SQL:"))
                incomplete = write_backward_sql(plan, self.stdout)
                if incomplete:
                    self.stdout.write(
                        self.style.WARNING(
                            f"{len(incomplete)} step"
                            f"{'s' if len(incomplete) != 1 else ''} not previewed in "
                            "full: their SQL depends on the database as the earlier "
                            "steps leave it (marked NOT PREVIEWED above): "
                            + ", ".join(step.label for step in incomplete)
                        )
                    )
        if strategy.name == "restore":
            raise RestoreRequired(
                "Only a restore can undo this plan: "
                + strategy.describe()
                + (
                    f". Run: manage.py migrationbackups restore {strategy.backup.id}"
                    if strategy.backup is not None
                    else ""
                )
            )
