"""``manage.py rollbackplan``: the dependency-aware revert preview. Executes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from migration_guard.backup.logpos import log_positions, recovery_points
from migration_guard.exceptions import RestoreRequired
from migration_guard.management import render
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.rollback.backward_sql import backward_sql, write_backward_sql
from migration_guard.rollback.preview import build_preview
from migration_guard.rollback.strategy import (
    RollbackTarget,
    rollback_plan,
    strategy_for,
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
        plan, run = rollback_plan(
            alias,
            RollbackTarget(
                options["app_label"],
                options["migration_name"],
                last=options["last"],
                run_id=options["run"],
            ),
        )
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
