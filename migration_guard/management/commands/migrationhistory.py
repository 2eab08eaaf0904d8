"""``manage.py migrationhistory``: the ledger of guardedmigrate runs."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandParser

from migration_guard.backup.logpos import describe
from migration_guard.exceptions import UsageError
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.management.render import duration_text, run_document, table
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import ledger
from migration_guard.run.planning import check_alias


def linked_text(run: MigrationRun) -> str:
    """The runs of ``run``'s group: one run on several databases (run.multi)."""
    from migration_guard.run.multi import linked_runs

    try:
        linked = linked_runs(run)
    except UsageError as exc:
        return str(exc)
    return ", ".join(
        f"run {row.pk} on database '{alias}' ({row.get_outcome_display()})"
        for alias, row in linked
    ) + (" - one run; 'rollback --run ID' on any of them undoes all.")


def outcome(text: str) -> str:
    """An outcome as the table shows it ("nothing to do") or as JSON has it."""
    wanted = " ".join(text.lower().replace("_", " ").split())
    for value, label in Outcome.choices:
        if wanted in (label, value.replace("_", " ")):
            return value
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an outcome; the outcomes: "
        + ", ".join(repr(label) for label in Outcome.labels)
    )


class Command(MigrationGuardCommand):
    help = (
        "Show the ledger: guardedmigrate runs with time, user, host, plan and outcome."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_database_argument(parser)
        self.add_format_argument(parser)
        parser.add_argument(
            "--limit",
            type=int,
            default=20,
            metavar="N",
            help="Show at most this many runs (20).",
        )
        parser.add_argument(
            "--outcome",
            type=outcome,
            metavar="OUTCOME",
            help="Only runs that ended this way, named as the OUTCOME column shows "
            "it: "
            + ", ".join(repr(label) for label in Outcome.labels)
            + " (or the JSON name: "
            + ", ".join(Outcome.values)
            + ").",
        )
        parser.add_argument(
            "--run", type=int, metavar="ID", help="Show one run in full."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        check_alias(alias)
        if options["limit"] < 1:
            raise UsageError("--limit must be at least 1.")
        has_ledger = ledger.has_table(alias)
        runs = MigrationRun.objects.using(alias).filter(alias=alias)
        if options["run"] is not None:
            run = runs.filter(pk=options["run"]).first() if has_ledger else None
            if run is None:
                raise UsageError(
                    f"No run {options['run']} in the ledger of database '{alias}'. "
                    "'manage.py migrationhistory' lists the recorded runs."
                )
            self._show_one(run, options["format"])
            return
        if options["outcome"]:
            runs = runs.filter(outcome=options["outcome"])
        selected = list(runs[: options["limit"]]) if has_ledger else []
        if options["format"] == "json":
            self.write_json(
                {"database": alias, "runs": [run_document(r) for r in selected]}
            )
            return
        if not selected:
            self.stdout.write(
                f"No guardedmigrate runs recorded on database '{alias}' yet."
            )
            return
        rows = [
            [
                "ID",
                "STARTED",
                "USER@HOST",
                "DIRECTION",
                "MIGRATIONS",
                "DURATION",
                "OUTCOME",
            ]
        ]
        for run in selected:
            count = len(run.executed) if run.executed else len(run.plan)
            rows.append(
                [
                    str(run.pk),
                    run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{run.user or '?'}@{run.host or '?'}",
                    run.direction,
                    str(count),
                    duration_text(run),
                    run.get_outcome_display(),
                ]
            )
        lines = table(rows)
        self.stdout.write(self.style.MIGRATE_HEADING(lines[0]))
        for line in lines[1:]:
            self.stdout.write(line)

    def _show_one(self, run: MigrationRun, fmt: str) -> None:
        if fmt == "json":
            self.write_json(run_document(run))
            return
        doc = run_document(run)
        style = self.style
        self.stdout.write(
            style.MIGRATE_HEADING(f"Run {run.pk} on database '{run.alias}':")
        )
        for label, key in [
            ("Command", "argv"),
            ("User", "user"),
            ("Host", "host"),
            ("Started", "started_at"),
            ("Finished", "finished_at"),
            ("Duration", "duration"),
            ("Direction", "direction"),
            ("Outcome", "outcome"),
            ("Backup", "backup_id"),
            ("Django", "django_version"),
        ]:
            value = doc[key]
            if key == "argv":
                value = " ".join(value)
            elif key == "duration" and value is not None:
                value = duration_text(run)
            self.stdout.write(f"  {label}: {value if value not in (None, '') else '-'}")
        if run.backup_note:
            self.stdout.write(f"  Backup note: {run.backup_note}")
        if (run.runtime or {}).get("group"):
            self.stdout.write(f"  Linked runs: {linked_text(run)}")
        self.stdout.write(f"  Log before the run: {describe(run.log_position)}")
        self.stdout.write(style.MIGRATE_LABEL("  Plan:"))
        for step in run.plan or []:
            arrow = "unapply" if step["backwards"] else "apply"
            self.stdout.write(f"    {arrow} {step['app']}.{step['name']}")
        if not run.plan:
            self.stdout.write("    (nothing to do)")
        if run.executed:
            self.stdout.write(style.MIGRATE_LABEL("  Executed:"))
            for item in run.executed:
                fake = " (faked)" if item.get("fake") else ""
                self.stdout.write(
                    f"    {item['action']} {item['app']}.{item['name']}{fake} "
                    f"in {item['seconds']:.3f}s"
                )
        if run.error:
            self.stdout.write(style.ERROR("  Error:"))
            for line in run.error.splitlines():
                self.stdout.write("    " + line)
