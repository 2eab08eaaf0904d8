"""``manage.py rollbackplan``: the dependency-aware revert preview. Executes nothing."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import CommandParser

from migration_guard.backup.logpos import log_positions, recovery_points
from migration_guard.exceptions import RestoreRequired
from migration_guard.management import render
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.models import MigrationRun
from migration_guard.rollback.backward_sql import BackwardSQL, write_backward_sql
from migration_guard.rollback.preview import Preview, Strategy, build_preview
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
        with contextlib.ExitStack() as stack:
            # one walk of the history for the preview, the phases and the SQL
            sql = stack.enter_context(BackwardSQL(plan)) if options["sql"] else None
            preview = build_preview(plan, sql=sql)
            strategy = strategy_for(alias, preview, run)
            self._write(options["format"], preview, strategy, run, sql)
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

    def _write(
        self,
        fmt: str,
        preview: Preview,
        strategy: Strategy,
        run: MigrationRun | None,
        sql: BackwardSQL | None,
    ) -> None:
        """The preview in format ``fmt``, with the backward SQL ``sql`` collected."""
        if fmt == "json":
            document = render.preview_document(preview, strategy, run)
            document["log_positions"] = log_positions(run, strategy.backup)
            if sql is not None:
                document["backward_sql"] = [step.as_json() for step in sql.steps()]
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
            if sql is not None:
                self._write_sql(preview, sql)

    def _write_sql(self, preview: Preview, sql: BackwardSQL) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Backward SQL:"))
        incomplete = write_backward_sql(preview.plan, self.stdout, sql.steps())
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
