"""``manage.py reconcile``: the recorded history against the live schema."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from migration_guard.exceptions import CheckFailed, UsageError, VerificationRefused
from migration_guard.gates.checksums import checksum
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.models import Outcome
from migration_guard.reconcile.history import history_gaps, record, record_replacements
from migration_guard.reconcile.verdict import (
    STATUS_TEXT,
    Decision,
    Key,
    Reconciliation,
    Verdict,
    fake_decisions,
    reconcile,
    unfake_decisions,
)
from migration_guard.run import ledger, markers
from migration_guard.run.locking import migration_lock
from migration_guard.run.planning import load, resolve_migration
from migration_guard.run.runner import RunRequest

STATUS_ORDER = ("applied", "drift", "fakeable", "pending", "partial", "not verifiable")
STATUS_STYLE = {
    "applied": "SUCCESS",
    "drift": "ERROR",
    "partial": "ERROR",
    "fakeable": "WARNING",
    "pending": "NOTICE",
    "not verifiable": "WARNING",
}


class Command(MigrationGuardCommand):
    help = (
        "Compare the live schema with the recorded migration history, migration "
        "by migration; record (--fake) or unrecord (--unfake) only what the "
        "schema verifies."
    )
    # Like rollbackplan: it runs no project code and changes no schema (at most
    # django_migrations rows), so the system checks, which import and lint
    # every migration again, are left to migrate/guardedmigrate.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_label", nargs="?", help="Only this app.")
        parser.add_argument(
            "migration_name", nargs="?", help="Only this migration (name or prefix)."
        )
        self.add_database_argument(parser)
        self.add_format_argument(parser)
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--fake",
            action="store_true",
            help="Record as applied the unapplied migrations whose effects are "
            "verified present.",
        )
        action.add_argument(
            "--unfake",
            action="store_true",
            help="Remove the records of applied migrations whose effects are "
            "verified absent.",
        )
        parser.add_argument(
            "--force-fake",
            action="store_true",
            help="With --fake, also record migrations that cannot be verified "
            "from the schema (RunPython, RunSQL); needs --reason.",
        )
        parser.add_argument(
            "--reason",
            default="",
            metavar="TEXT",
            help="Why --force-fake is right (kept in the ledger).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit 2 when an applied migration's effects are missing (drift).",
        )
        self.add_lock_timeout_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        app_label, name = options["app_label"], options["migration_name"]
        if options["force_fake"] and not options["fake"]:
            raise UsageError("--force-fake only goes with --fake.")
        if options["force_fake"] and not options["reason"].strip():
            raise UsageError(
                "--force-fake needs --reason TEXT, which the ledger keeps."
            )
        executor = load(alias, allow_inconsistent=True)
        if app_label is not None:
            if app_label not in executor.loader.migrated_apps:
                raise UsageError(
                    f"App '{app_label}' does not have migrations. Apps with "
                    f"migrations: {', '.join(sorted(executor.loader.migrated_apps))}."
                )
            if name is not None:
                name = resolve_migration(executor.loader, app_label, name, zero=False)[
                    1
                ]
        if options["fake"] or options["unfake"]:
            self._act(alias, app_label, name, options)
            return
        result = reconcile(executor.loader, connections[alias])
        self._report(alias, result, result.select(app_label, name), [], None, options)

    def _act(
        self,
        alias: str,
        app_label: str | None,
        name: str | None,
        options: dict[str, Any],
    ) -> None:
        request = RunRequest(alias=alias, lock_timeout=options["lock_timeout"])
        forwards = bool(options["fake"])
        with migration_lock(alias, request.timeout):
            markers.refuse_unfinished_restore(alias)
            # the history as it is under the lock
            executor = load(alias, allow_inconsistent=True)
            applied_before = sorted(
                f"{a}.{n}" for a, n in executor.loader.applied_migrations
            )
            with ledger.recorded(
                ledger.start_run(
                    alias,
                    command="reconcile",
                    direction="forwards" if forwards else "backwards",
                    plan=[],
                    applied_before=applied_before,
                    fake=True,
                    argv=self.invocation(options),
                )
            ) as recording:
                # the loader read before the ledger row: writing it changes no
                # history, and the live schema is read after it
                result = reconcile(executor.loader, connections[alias])
                selected = result.select(app_label, name)
                decisions = (
                    fake_decisions(result, selected, force=options["force_fake"])
                    if forwards
                    else unfake_decisions(result, selected)
                )
                acting = [d for d in decisions if d.act]
                # one named migration refused; already (un)recorded is a no-op
                if name is not None and decisions and not acting:
                    raise VerificationRefused(
                        f"Not {'recording' if forwards else 'unrecording'} "
                        f"{app_label}.{name} on database '{alias}': "
                        f"{decisions[0].why}."
                        + self._differences(selected, forwards)
                        + "\nNothing was changed."
                    )
                recording.executed = _write(alias, acting, forwards, options["reason"])
                if recording.executed and forwards:  # as migrate's check_replacements
                    record_replacements(connections[alias], executor.loader)
                recording.finish(
                    Outcome.SUCCESS if recording.executed else Outcome.NOOP,
                    plan=[
                        {"app": e["app"], "name": e["name"], "backwards": not forwards}
                        for e in recording.executed
                    ],
                )
            run = recording.run
        self._report(
            alias, result, selected, decisions, run, options, forwards=forwards
        )

    @staticmethod
    def _differences(selected: list[Verdict], forwards: bool) -> str:
        lines = [
            f"\n    {difference}"
            for verdict in selected
            for difference in (verdict.if_applied if forwards else verdict.if_unapplied)
        ]
        return "".join(lines[:20])

    def _report(
        self,
        alias: str,
        result: Reconciliation,
        selected: list[Verdict],
        decisions: list[Decision],
        run: Any,
        options: dict[str, Any],
        *,
        forwards: bool = True,
    ) -> None:
        counts: Counter[str] = Counter(str(verdict.status) for verdict in selected)
        drift = [v for v in selected if v.status in ("drift", "partial")]
        gaps = history_gaps(result, decisions, forwards=forwards)
        if options["format"] == "json":
            self.write_json(
                {
                    "database": alias,
                    "tables_read": len(result.live),
                    "migrations": [verdict.as_json() for verdict in selected],
                    "summary": {
                        status: counts.get(status, 0) for status in STATUS_ORDER
                    },
                    "actions": [_action_json(d, forwards) for d in decisions],
                    "run": run.pk if run is not None else None,
                    "inconsistent": [
                        {"migration": _label(m), "dependency": _label(d)}
                        for m, d in gaps
                    ],
                    "outcome": "drift"
                    if drift
                    else ("inconsistent" if gaps else "clean"),
                }
            )
        else:
            self._write_text(alias, result, selected, decisions, counts, run, forwards)
            self._write_gaps(alias, result, gaps, run)
        if options["check"] and drift:
            raise CheckFailed(
                f"{len(drift)} migration{'s' if len(drift) != 1 else ''} on database "
                f"'{alias}' {'do' if len(drift) != 1 else 'does'} not match the "
                "schema: " + ", ".join(v.label for v in drift[:10]) + "."
            )
        if options["check"] and gaps:
            (migration, dependency), more = gaps[0], len(gaps) - 1
            raise CheckFailed(
                f"The history of database '{alias}' is inconsistent: "
                f"{_label(migration)} is applied before its dependency "
                f"{_label(dependency)}"
                + (f" (and {more} more)" if more else "")
                + f". Run 'manage.py reconcile --fake{_db(alias)}' to record the "
                "dependencies the schema verifies."
            )

    def _write_text(
        self,
        alias: str,
        result: Reconciliation,
        selected: list[Verdict],
        decisions: list[Decision],
        counts: Counter[str],
        run: Any,
        forwards: bool,
    ) -> None:
        write, style = self.stdout.write, self.style
        write(
            style.MIGRATE_HEADING(f"Reconciling database '{alias}'")
            + f" ({len(result.live)} tables read):"
        )
        first: dict[str, int] = {}
        for index, verdict in enumerate(selected):
            first.setdefault(verdict.migration.app_label, index)
        current = None
        for verdict in sorted(selected, key=lambda v: first[v.migration.app_label]):
            if verdict.migration.app_label != current:
                current = verdict.migration.app_label
                write(style.MIGRATE_LABEL(f" {current}"))
            mark = "X" if verdict.applied else " "
            status = verdict.status
            text = STATUS_TEXT[status]
            note = verdict.note()
            if note and status in ("applied", "fakeable", "not verifiable"):
                text += f"; {note}"
            write(
                f"  [{mark}] {verdict.migration.name:<44} "
                + getattr(style, STATUS_STYLE[status])(text)
            )
            for difference in verdict.differences:
                write(f"        {difference}")
        write(
            style.MIGRATE_HEADING("Summary:")
            + " "
            + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUS_ORDER)
            + "."
        )
        if not decisions and run is None:
            return
        done = [d for d in decisions if d.act]
        skipped = [d for d in decisions if not d.act]
        verb = "applied" if forwards else "unapplied"
        write(style.MIGRATE_HEADING(f"Recording as {verb}:"))
        for decision in done:
            how = (
                "forced: " + _reason(decision)
                if decision.forced
                else decision.verification
            )
            write(f"  {decision.verdict.label}... " + style.SUCCESS(f"FAKED ({how})"))
        if not done:
            write("  nothing verified to record")
        if skipped:
            write(style.MIGRATE_HEADING("Not recorded:"))
            for decision in skipped:
                write(f"  {decision.verdict.label}: {decision.why}")

    def _write_gaps(
        self,
        alias: str,
        result: Reconciliation,
        gaps: list[tuple[Key, Key]],
        run: Any,
    ) -> None:
        """The inconsistent history (after recording), then the ledger run."""
        write, style = self.stdout.write, self.style
        before = history_gaps(result)
        if gaps:
            count = len({migration for migration, _ in gaps})
            write(
                style.ERROR(
                    f"{'Still inconsistent' if run is not None else 'Inconsistent'} "
                    f"history: {count} applied migration"
                    f"{'s depend' if count != 1 else ' depends'} on migrations that "
                    "are not recorded (migrate refuses to run):"
                )
            )
            for migration, dependency in gaps:
                write(
                    f"  {_label(migration)} is applied before its dependency "
                    f"{_label(dependency)}"
                )
            if run is None:
                write(
                    f"Run 'manage.py reconcile --fake{_db(alias)}' to record the "
                    "dependencies the schema verifies."
                )
        elif before and run is not None:
            write(style.SUCCESS("History: consistent now."))
        if run is not None:
            self.say_ledger(run)


def _write(
    alias: str, acting: list[Decision], forwards: bool, reason: str
) -> list[ledger.Entry]:
    """(Un)record each migration decided on; the ledger entry of each."""
    executed = []
    for decision in acting:
        record(connections[alias], decision.verdict.migration, applied=forwards)
        executed.append(_executed(decision, forwards, reason))
    return executed


def _label(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


def _db(alias: str) -> str:
    """The ``--database`` option to repeat in a command the user is told to run."""
    return "" if alias == DEFAULT_DB_ALIAS else f" --database {alias}"


def _reason(decision: Decision) -> str:
    return decision.verdict.note() or "not verifiable"


def _executed(decision: Decision, forwards: bool, reason: str) -> ledger.Entry:
    verdict = decision.verdict
    entry = ledger.entry(
        verdict.migration.app_label,
        verdict.migration.name,
        "applied" if forwards else "unapplied",
        fake=True,
        verification=decision.verification,
    )
    if forwards:
        entry["checksum"] = checksum(verdict.migration).as_json()
    if decision.forced:
        entry["reason"] = reason
        entry["note"] = verdict.note()
    return entry


def _action_json(decision: Decision, forwards: bool) -> dict[str, Any]:
    return {
        "app": decision.verdict.migration.app_label,
        "name": decision.verdict.migration.name,
        "action": ("faked" if forwards else "unfaked") if decision.act else "skipped",
        "forced": decision.forced,
        "why": decision.why,
    }
