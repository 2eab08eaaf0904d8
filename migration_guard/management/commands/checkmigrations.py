"""``manage.py checkmigrations``: the CI gate for migrations.

Static gates (:mod:`migration_guard.gates.problems`), on the project's own apps
(or the labels given): conflicts (several leaves in an app), the
data-migration lint, mixed deploy phases, the lock-aware gates, irreversible
operations (also inside ``SeparateDatabaseAndState``), and migrations edited
after they were applied on ``--database`` (checksums recorded by
``guardedmigrate``).
``--roundtrip [app ...]`` then applies, unapplies and re-applies every
migration on a scratch database and compares the schema at each step.
Exit 2 when anything fails; ``--format json`` for CI.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandParser
from django.db.migrations.loader import MigrationLoader

from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.gates.problems import Problem, static_sections
from migration_guard.gates.roundtrip import (
    MigrationResult,
    Report,
)
from migration_guard.gates.selection import apps_to_check
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.run.planning import check_alias


def roundtrip_problems(report: Report, targets: list[str]) -> list[Problem]:
    """The round trip's failures, or why it stopped, as problems."""
    problems = [
        Problem("roundtrip", r.app_label, r.name, r.describe()) for r in report.failures
    ]
    if report.stopped and not report.failures:  # not one reported already
        problems.append(Problem("roundtrip", ",".join(targets), None, report.stopped))
    return problems


class Command(MigrationGuardCommand):
    help = (
        "CI gate: irreversible operations, data migrations without reverse or "
        "mixed with schema changes, conflicts, migrations edited after they were "
        "applied, and with --roundtrip every migration applied, unapplied and "
        "re-applied on a scratch database. Exit 2 when a gate fails."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "app_label",
            nargs="*",
            help="Apps to check (default: the project's own apps with migrations).",
        )
        parser.add_argument(
            "--roundtrip",
            nargs="*",
            metavar="APP",
            default=None,
            help="Also apply, unapply and re-apply every migration of these apps "
            "(default: the apps checked) on a scratch database on the server of "
            "--database, comparing the schema at each step.",
        )
        parser.add_argument(
            "--accept",
            nargs=2,
            metavar=("APP", "NAME"),
            help="Record the current checksum of an edited applied migration "
            "(needs --reason; the ledger keeps it).",
        )
        parser.add_argument(
            "--reason",
            default="",
            metavar="TEXT",
            help="Why --accept is right (the ledger keeps it).",
        )
        self.add_database_argument(parser)
        self.add_format_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        check_alias(alias)
        as_json = options["format"] == "json"
        if options["accept"]:
            self._accept(alias, options, as_json)
            return
        if options["reason"]:
            raise UsageError("--reason goes with --accept APP NAME.")
        started = time.monotonic()
        loader = MigrationLoader(None, ignore_no_migrations=True)
        labels = apps_to_check(loader, options["app_label"])
        say = self._say(as_json, options["verbosity"])
        say("MIGRATE_HEADING", f"Checking migrations of {', '.join(labels)}:")
        problems: list[Problem] = []
        checks: dict[str, Any] = {}
        silenced: dict[str, int] = {}
        for section in static_sections(alias, loader, labels):
            checks[section.key] = [p.as_json() for p in section.problems]
            checks.update(section.extra)
            silenced.update(section.silenced)
            self._section(say, section.title, section.problems, section.note)
            for line in section.notices:
                say("NOTICE", f"    note: {line}")
            problems += section.problems

        checks["silenced"] = silenced
        checks["roundtrip"] = None
        if options["roundtrip"] is not None:
            targets = options["roundtrip"] or labels
            apps_to_check(loader, targets)  # known apps with migrations
            report = self._roundtrip(alias, targets, say)
            checks["roundtrip"] = report.as_json()
            problems += roundtrip_problems(report, targets)
        failed = bool(problems)
        if as_json:
            self.write_json(
                {
                    "database": alias,
                    "apps": labels,
                    "outcome": "failed" if failed else "clean",
                    "exit_code": CheckFailed.exit_code if failed else 0,
                    "problems": [p.as_json() for p in problems],
                    "checks": checks,
                    "seconds": round(time.monotonic() - started, 6),
                }
            )
        if failed:
            where = sorted({p.where for p in problems})
            shown = ", ".join(where[:10]) + (
                f" and {len(where) - 10} more" if len(where) > 10 else ""
            )
            raise CheckFailed(
                f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in "
                f"{shown}."
            )
        say("SUCCESS", "All checks passed.")

    def _say(self, as_json: bool, verbosity: int) -> Any:
        def say(style: str, text: str) -> None:
            if not as_json and verbosity >= 1:
                self.say(style, text)

        return say

    @staticmethod
    def _section(say: Any, title: str, found: list[Problem], note: str = "") -> None:
        if note:
            say("MIGRATE_LABEL", f"  {title}: {note}")
            return
        if not found:
            say("MIGRATE_LABEL", f"  {title}: none")
            return
        say("MIGRATE_LABEL", f"  {title}: {len(found)}")
        for problem in found:
            say("ERROR", f"    {problem.where}: {problem.message}")
            if problem.hint:
                say("NOTICE", f"      hint: {problem.hint}")

    def _roundtrip(self, alias: str, labels: list[str], say: Any) -> Report:
        from migration_guard.gates.roundtrip import run_roundtrip

        say(
            "MIGRATE_HEADING",
            f"Round trip of {', '.join(labels)} (apply, unapply, compare, "
            "re-apply) on a scratch database:",
        )

        def observe(result: MigrationResult) -> None:
            text = f"  {result.label}... "
            timing = (
                f" (apply {result.apply:.3f}s, unapply {result.unapply:.3f}s, "
                f"re-apply {result.reapply:.3f}s)"
            )
            if result.status == "ok":
                say("MIGRATE_LABEL", text + "OK" + timing)
            elif result.status == "irreversible":
                say("WARNING", text + result.describe())
            else:
                say("ERROR", text + result.describe())

        report = run_roundtrip(alias, labels, observe=observe)
        counts = report.summary()
        say(
            "MIGRATE_HEADING",
            f"Round trip on {report.where} (dropped): {counts['ok']} OK, "
            f"{counts['mismatch']} not restored, {counts['error']} failed, "
            f"{counts['irreversible']} irreversible; {report.applied_only} "
            f"migrations of other apps applied; {report.seconds:.2f}s.",
        )
        if report.stopped:
            say("ERROR", f"  Stopped: {report.stopped}")
        return report

    def _accept(self, alias: str, options: dict[str, Any], as_json: bool) -> None:
        from migration_guard.gates.checksums import accept

        if options["roundtrip"] is not None or options["app_label"]:
            raise UsageError(
                "--accept APP NAME goes alone (no app labels, no --roundtrip)."
            )
        app_label, name = options["accept"]
        if not options["reason"].strip():
            raise UsageError("--accept needs --reason TEXT, which the ledger keeps.")
        edit = accept(
            alias, app_label, name, options["reason"], self.invocation(options)
        )
        if as_json:
            self.write_json(
                {
                    "database": alias,
                    "outcome": "accepted",
                    "accepted": edit.as_json(),
                    "reason": options["reason"],
                    "run": edit.run.pk,
                }
            )
        elif options["verbosity"] >= 1:
            self.say(
                "SUCCESS",
                f"Accepted the new checksum of {edit.label} on database '{alias}' "
                "(recorded in the ledger with the reason).",
            )
            for change in edit.changed:
                self.stdout.write(f"  {change}")
            self.say_ledger(edit.run)
