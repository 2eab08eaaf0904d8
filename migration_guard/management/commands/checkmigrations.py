"""``manage.py checkmigrations``: the CI gate for migrations.

Static gates, on the project's own apps (or the labels given): conflicts
(several leaves in an app), irreversible operations (also inside
``SeparateDatabaseAndState``), the data-migration checks of
:mod:`migration_guard.gates.lint` when it is installed, and migrations edited after they
were applied on ``--database`` (checksums recorded by ``guardedmigrate``).
``--roundtrip [app ...]`` then applies, unapplies and re-applies every
migration on a scratch database and compares the schema at each step.
Exit 2 when anything fails; ``--format json`` for CI.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management.base import CommandParser
from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython, RunSQL

from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.gates import lint
from migration_guard.gates import locks as gates
from migration_guard.gates.roundtrip import (
    MigrationResult,
    Report,
    irreversible_operations,
)
from migration_guard.gates.selection import project_apps
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.run import phases
from migration_guard.run.planning import check_alias


@dataclass(frozen=True)
class Problem:
    """One failed gate: what, where, and what to do."""

    check: str
    app_label: str
    migration_name: str | None
    message: str
    operation_index: int | None = None
    hint: str = ""

    @property
    def where(self) -> str:
        if self.migration_name is None:
            return self.app_label
        return f"{self.app_label}.{self.migration_name}"

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "app": self.app_label,
            "name": self.migration_name,
            "operation_index": self.operation_index,
            "message": self.message,
            "hint": self.hint or None,
        }


def conflicts(loader: MigrationLoader, labels: Iterable[str]) -> list[Problem]:
    found = loader.detect_conflicts()
    return [
        Problem(
            "conflict",
            app,
            None,
            f"multiple leaf migrations in {app}: {', '.join(sorted(names))}",
            hint=f"python manage.py makemigrations --merge {app}",
        )
        for app, names in sorted(found.items())
        if app in set(labels)
    ]


def irreversible(loader: MigrationLoader, labels: Iterable[str]) -> list[Problem]:
    """Operations that cannot be unapplied, other than RunPython/RunSQL.

    A RunPython/RunSQL without reverse is lint's ``migration_guard.W010``; the
    others (an operation whose ``reversible`` is False, also inside
    ``SeparateDatabaseAndState``) are reported here, and silenced by the same
    ``migration_guard_silence = ["migration_guard.W010"]``.
    """
    wanted = set(labels)
    problems = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app not in wanted or lint.NO_REVERSE in lint.silenced_ids(migration):
            continue
        for index, operation in enumerate(migration.operations):
            for blocking in irreversible_operations([operation]):
                if isinstance(blocking, RunPython | RunSQL):
                    continue
                nested = (
                    " (inside SeparateDatabaseAndState)"
                    if blocking is not operation
                    else ""
                )
                problems.append(
                    Problem(
                        "irreversible",
                        app,
                        name,
                        f"operations[{index}] {lint.describe(blocking)}{nested} "
                        "cannot be reversed: the migration cannot be unapplied.",
                        operation_index=index,
                        hint="Use reversible operations, or silence it for this "
                        f'migration with {lint.SILENCE_ATTRIBUTE} = ["'
                        f'{lint.NO_REVERSE}"].',
                    )
                )
    return problems


def lint_problems(loader: MigrationLoader, labels: list[str]) -> list[Problem]:
    """The findings of :mod:`migration_guard.gates.lint` (silenced ones left out)."""
    return finding_problems(lint.lint(loader, labels))


def finding_problems(findings: Iterable[lint.Finding]) -> list[Problem]:
    return [
        Problem(
            finding.check_id,
            finding.app_label,
            finding.migration_name,
            finding.message,
            operation_index=finding.operation_index,
            hint=finding.hint,
        )
        for finding in findings
    ]


def edited(alias: str, labels: list[str]) -> tuple[list[Problem], list[str], str]:
    """Applied migrations whose operations changed; file-only changes; a note."""
    from migration_guard.gates.checksums import edited_migrations

    try:
        loader = MigrationLoader(connections[alias])
        edits = edited_migrations(alias, loader)
    except DatabaseError as exc:
        reason = " ".join(str(exc).split())
        return [], [], f"not checked: cannot read database '{alias}' ({reason})"
    wanted = set(labels)
    problems, reformatted = [], []
    for edit in edits:
        if edit.app_label not in wanted:
            continue
        if edit.operations_changed:
            problems.append(
                Problem(
                    "edited",
                    edit.app_label,
                    edit.name,
                    edit.message(),
                    hint="revert the file, or put the change in a new migration; "
                    f"if it is deliberate: checkmigrations --accept {edit.app_label} "
                    f"{edit.name} --reason TEXT",
                )
            )
        else:
            reformatted.append(edit.message())
    return problems, reformatted, ""


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
        labels = self._labels(loader, options["app_label"])
        say = self._say(as_json, options["verbosity"])
        say("MIGRATE_HEADING", f"Checking migrations of {', '.join(labels)}:")
        problems: list[Problem] = []
        checks: dict[str, Any] = {}

        found = conflicts(loader, labels)
        checks["conflicts"] = [p.as_json() for p in found]
        self._section(say, "Conflicts", found)
        problems += found

        found = lint_problems(loader, labels)
        checks["lint"] = [p.as_json() for p in found]
        self._section(say, "Data migrations (lint)", found)
        problems += found

        found = finding_problems(phases.mixed(loader, labels))
        checks["phases"] = [p.as_json() for p in found]
        self._section(say, "Deploy phases (mixed migrations)", found)
        problems += found

        server = gates.server_of(connections[alias])
        found = finding_problems(gates.gate(loader, labels, server, connections[alias]))
        checks["gates"] = [p.as_json() for p in found]
        checks["gates_server"] = server.describe()
        self._section(say, f"Lock-aware gates ({server.describe()})", found)
        problems += found

        found = irreversible(loader, labels)
        checks["irreversible"] = [p.as_json() for p in found]
        self._section(say, "Other irreversible operations", found)
        problems += found

        found, reformatted, note = edited(alias, labels)
        checks["edited"] = [p.as_json() for p in found]
        checks["reformatted"] = reformatted
        checks["edited_note"] = note or None
        self._section(
            say, f"Edited after being applied on database '{alias}'", found, note
        )
        for line in reformatted:
            say("NOTICE", f"    note: {line}")
        problems += found

        report: Report | None = None
        if options["roundtrip"] is not None:
            targets = options["roundtrip"] or labels
            self._labels(loader, targets)  # known apps with migrations
            report = self._roundtrip(alias, targets, say)
            checks["roundtrip"] = report.as_json()
            problems += [
                Problem("roundtrip", r.app_label, r.name, r.describe())
                for r in report.failures
            ]
            if report.stopped and not report.failures:  # not one reported already
                problems.append(
                    Problem("roundtrip", ",".join(targets), None, report.stopped)
                )
        else:
            checks["roundtrip"] = None

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

    def _labels(self, loader: MigrationLoader, given: list[str]) -> list[str]:
        if not given:
            labels = project_apps(loader)
            if not labels:
                raise UsageError(
                    "No app of the project has migrations (Django's and "
                    "installed packages' apps are not checked unless named)."
                )
            return labels
        for label in given:
            try:
                apps.get_app_config(label)
            except LookupError:
                raise UsageError(
                    f"No installed app with label '{label}'. Apps with migrations: "
                    f"{', '.join(sorted(loader.migrated_apps))}."
                ) from None
            if label not in loader.migrated_apps:
                raise UsageError(f"App '{label}' does not have migrations.")
        return sorted(set(given))

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
