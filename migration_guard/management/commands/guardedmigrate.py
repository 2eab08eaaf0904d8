"""``manage.py guardedmigrate``: a drop-in for ``migrate`` in deployment scripts."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandParser, OutputWrapper
from django.core.management.commands import migrate

from migration_guard.compat.management import parser_actions
from migration_guard.conf import BACKUP_SCOPE_CHOICES
from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.management import render
from migration_guard.management.base import (
    MigrationGuardCommandMixin,
    add_seconds_argument,
    exit_status,
)
from migration_guard.management.multidb import (
    add_database_arguments,
    aliases_of,
    run_several,
)
from migration_guard.management.render import run_document
from migration_guard.run import execution, runner
from migration_guard.run.locktimeouts import LockWaits, from_settings
from migration_guard.run.planning import Key, Plan, TargetSpec, build_plan

#: help texts of migrate's options whose behaviour migration_guard changes
OWN_HELP = {
    "fake": "Record migrations as applied (or, backwards, unapplied) without "
    "running them, only where the live schema verifies their effects (or their "
    "absence); otherwise nothing is written and the command exits 4 with the "
    "differences (see --force-fake).",
    "fake_initial": "Record an initial migration as applied without running it "
    "when all its tables exist and match it in full (columns, types, keys, "
    "indexes, constraints), not only by name; apply the others. A partial or "
    "different match writes nothing and exits 4 with the differences.",
    "interactive": "Do not ask anything: a backward plan runs without asking "
    "for confirmation (an irreversible one is still refused, exit 8).",
    "check_unapplied": "Exit 2 when there are migrations to apply (or unapply "
    "to reach the target); take no lock, write nothing.",
    "plan": "Show the plan, operation by operation; take no lock, write nothing.",
}


#: what ``--rehearse`` does not go with: flag, option
REHEARSAL_REFUSES = (
    ("--fake", "fake"),
    ("--fake-initial", "fake_initial"),
    ("--force-fake", "force_fake"),
    ("--plan", "plan"),
    ("--check", "check_unapplied"),
    ("--prune", "prune"),
    ("--run-syncdb", "run_syncdb"),
)


class Command(MigrationGuardCommandMixin, migrate.Command):
    help = (
        "Apply migrations like 'migrate', with a lock per database, a verified "
        "backup before every non-empty plan (restored when a failed migration "
        "leaves the database half-changed), the run recorded in the ledger, "
        "fakes only where the schema verifies them, and exit codes for "
        "deployment scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        # migrate limits --database to argparse choices, which exits 2 with a
        # generic message; an undefined alias is a usage error (exit 1) here.
        for action in parser_actions(parser):
            if action.dest == "database":
                action.choices = None
            if action.dest in OWN_HELP:  # migrate's words describe migrate
                action.help = OWN_HELP[action.dest]
        add_database_arguments(parser)
        self.add_lock_timeout_argument(parser)
        add_lock_wait_arguments(parser)
        add_run_arguments(parser)
        add_deploy_arguments(parser)
        self.add_format_argument(parser)

    def get_check_kwargs(self, options: Any) -> Any:
        aliases = aliases_of(options)  # before the checks look the aliases up
        return {**super().get_check_kwargs(options), "databases": aliases}

    #: while a run goes on: its database and the log of migrate's output
    _run_log: tuple[str, io.StringIO] | None = None

    def handle(self, *args: Any, **options: Any) -> None:
        self._run_log = None
        self.verbosity = options["verbosity"]
        aliases = aliases_of(options)
        spec = TargetSpec(options["app_label"], options["migration_name"])
        as_json = options["format"] == "json"
        refuse_misplaced(options)
        if len(aliases) > 1:
            run_several(self, aliases, spec, args, options)
            return
        alias = options["database"] = aliases[0]
        if options["rehearse"]:
            self._rehearse(alias, spec, options)
            return
        if options["plan"] or options["check_unapplied"]:
            if options["prune"]:
                raise UsageError(
                    "--prune deletes django_migrations rows, so it cannot be "
                    "combined with --plan or --check, which never write."
                )
            self._read_only(alias, spec, args, options, as_json)
            return
        self._run(alias, spec, args, options, as_json)

    def _run(
        self,
        alias: str,
        spec: TargetSpec,
        args: tuple[Any, ...],
        options: dict[str, Any],
        as_json: bool,
    ) -> None:
        """The guarded run: lock, plan, backup, ``migrate``, ledger."""
        faking = options["fake"] or options["fake_initial"]
        if options["force_fake"] and not faking:
            raise UsageError("--force-fake only goes with --fake or --fake-initial.")
        if options["force_fake"] and not options["reason"].strip():
            raise UsageError(
                "--force-fake needs --reason TEXT, which the ledger keeps."
            )
        expected = None
        if not faking:
            expected = self._confirm_backwards(alias, spec, options, as_json)
        request = run_request(
            alias, spec, options, argv=self.invocation(options), expected=expected
        )
        log = io.StringIO()
        self._run_log = (alias, log)  # a failure from here: failure_document
        result = runner.run(
            request,
            self._execute(args, options, log, as_json),
            say=self.say if not as_json and self.verbosity >= 1 else runner.quiet,
            progress=None if as_json else self.progress("Backing up"),
            announce=None if as_json or self.verbosity < 1 else self.plan_progress(),
        )
        self._run_log = None
        if as_json:
            document = run_document(result.run)
            document["seconds"] = round(result.seconds, 6)
            document["log"] = log.getvalue().splitlines()
            self.write_json(document)
        elif self.verbosity >= 1:
            self.say_ledger(result.run)

    def _execute(
        self,
        args: tuple[Any, ...],
        options: dict[str, Any],
        log: io.StringIO,
        as_json: bool,
    ) -> runner.Execute:
        """How the locked plan runs: ``migrate`` itself, or the phase's part."""

        def execute(plan: Plan, journal: execution.Journal) -> None:
            if options["phase"]:  # migrate would run its own, whole plan
                execution.execute_plan(
                    plan,
                    journal,
                    verbosity=0 if as_json else self.verbosity,
                    interactive=False,
                    stdout=OutputWrapper(log) if as_json else self.stdout,
                )
                return
            with execution.django_migrate_uses(plan.executor, journal):
                if as_json:
                    self._quietly(log, super(Command, self).handle, *args, **options)
                else:
                    super(Command, self).handle(*args, **options)

        return execute

    def _rehearse(self, alias: str, spec: TargetSpec, options: dict[str, Any]) -> None:
        """``--rehearse``: the plan and its revert on a copy; exit 2 on failure."""
        from migration_guard.gates import rehearse

        refused = [flag for flag, key in REHEARSAL_REFUSES if options.get(key)]
        if refused:
            raise UsageError(
                f"--rehearse runs the plan on a copy; it does not go with "
                f"{', '.join(refused)}."
            )
        as_json = options["format"] == "json"
        quiet = as_json or options["verbosity"] < 1
        if not quiet:
            self.say(
                "MIGRATE_HEADING",
                f"Rehearsal on a copy of database '{alias}' (nothing on it changes):",
            )
        result = rehearse.rehearse(
            alias,
            spec,
            say=runner.quiet if quiet else self.say,
            show_preview=None if quiet else self._copy_preview(alias),
            max_lock_ms=options.get("max_lock_ms"),
        )
        if as_json:
            self.write_json(result.as_json())
        elif not quiet and result.plan:
            for line in render.rehearsal_lines(result, self.style):
                self.stdout.write(line)
        error = rehearse.failure(result)
        if error is not None:
            raise error

    def _copy_preview(self, alias: str) -> Callable[[Any], None]:
        """Shows the revert preview built on the copy, as of the real database."""
        from migration_guard.testing.scratch import SUFFIX

        def show(pair: Any) -> None:
            preview, strategy = pair
            self.say("MIGRATE_HEADING", "Revert preview (on the copy):")
            copy = f"database '{alias}{SUFFIX}'"
            for line in render.preview_lines(preview, strategy, None, self.style):
                self.stdout.write("  " + line.replace(copy, f"the copy of '{alias}'"))

        return show

    def _confirm_backwards(
        self, alias: str, spec: TargetSpec, options: dict[str, Any], as_json: bool
    ) -> tuple[Key, ...] | None:
        """Show the revert preview of a backward plan and ask; refuse irreversible.

        Returns the confirmed plan, which the run checks again under the lock.
        """
        from migration_guard.rollback.strategy import backward, refuse_irreversible

        found = backward(alias, spec, run_syncdb=options["run_syncdb"])
        if found is None:
            return None
        plan, preview, strategy = found
        if self.verbosity >= 1 and (not as_json or options["interactive"]):
            self.tell(
                render.preview_lines(preview, strategy, None, self.style),
                as_json=as_json,
            )
        refuse_irreversible(alias, preview, strategy)
        if options["interactive"] and not self.confirm(
            f"Unapply {len(preview.migrations)} migration"
            f"{'s' if len(preview.migrations) != 1 else ''}?"
        ):
            raise UsageError("Cancelled; nothing was changed.")
        return plan.keys()

    def _quietly(self, log: io.StringIO, call: Any, *args: Any, **options: Any) -> None:
        """Run ``call`` with everything it prints going to ``log``."""
        stdout = self.stdout
        self.stdout = OutputWrapper(log)
        try:
            with contextlib.redirect_stdout(log):
                call(*args, **options)
        finally:
            self.stdout = stdout

    def failure_document(self, exc: BaseException) -> dict[str, Any] | None:
        """A failed run's document: its ledger row, the error, migrate's output."""
        if self._run_log is None:
            return super().failure_document(exc)
        alias, log = self._run_log
        run = getattr(exc, "run", None)
        document: dict[str, Any] = run_document(run) if run is not None else {}
        document.update(
            {
                "database": alias,
                "outcome": document.get("outcome", "error"),
                "exit_code": exit_status(exc),
                "message": str(exc),
                "log": log.getvalue().splitlines(),
            }
        )
        return document

    def _read_only(
        self,
        alias: str,
        spec: TargetSpec,
        args: tuple[Any, ...],
        options: dict[str, Any],
        as_json: bool,
    ) -> None:
        """``--plan`` and ``--check``: show the plan; no lock, no ledger, no write."""
        started = time.monotonic()
        plan = build_plan(alias, spec, run_syncdb=options["run_syncdb"])
        pending = [step.label for step in plan.steps]
        if as_json:
            self.write_json(
                {
                    "database": alias,
                    "direction": plan.direction,
                    "plan": [
                        {
                            **step.as_json(),
                            "operations": [
                                {"description": text, "irreversible": is_error}
                                for text, is_error in (
                                    self.describe_operation(op, step.backwards)
                                    for op in step.migration.operations
                                )
                            ],
                        }
                        for step in plan.steps
                    ],
                    "outcome": "pending" if pending else "clean",
                    "seconds": round(time.monotonic() - started, 6),
                }
            )
        elif options["plan"]:
            with execution.django_migrate_uses(plan.executor, execution.Journal()):
                super().handle(*args, **{**options, "check_unapplied": False})
        if options["check_unapplied"] and pending:
            shown = ", ".join(pending[:10])
            if len(pending) > 10:
                shown += f" and {len(pending) - 10} more"
            raise CheckFailed(
                f"{len(pending)} migration{'s' if len(pending) != 1 else ''} "
                f"to {'unapply' if plan.direction == 'backwards' else 'apply'} on "
                f"database '{alias}': {shown}. 'manage.py guardedmigrate --plan' "
                "shows them all."
            )


def add_lock_wait_arguments(parser: CommandParser) -> None:
    """How long each migration may wait for locks, and its retries."""
    add_seconds_argument(
        parser,
        "--lock-wait-timeout",
        "Seconds each statement of a migration may wait for a table "
        "lock before the migration is rolled back and retried (default: "
        "MIGRATION_GUARD['LOCK_WAIT_TIMEOUT'], 5; 0: no limit).",
    )
    parser.add_argument(
        "--lock-wait-retries",
        type=int,
        default=None,
        metavar="N",
        help="How often a migration that timed out waiting for a lock is "
        "tried again (default: MIGRATION_GUARD['LOCK_WAIT_RETRIES'], 3).",
    )
    add_seconds_argument(
        parser,
        "--lock-wait-backoff",
        "Pause before the first retry, doubled for each next one, with "
        "jitter (default: MIGRATION_GUARD['LOCK_WAIT_BACKOFF'], 1).",
    )
    add_seconds_argument(
        parser,
        "--statement-timeout",
        "Seconds a statement of a migration may run (PostgreSQL, "
        "MariaDB; default: MIGRATION_GUARD['STATEMENT_TIMEOUT'], no limit).",
    )


def add_run_arguments(parser: CommandParser) -> None:
    """The backup, fakes that do not verify, edited migrations."""
    parser.add_argument(
        "--no-backup",
        action="store_true",
        help="Do not take the pre-migration backup (the ledger records it).",
    )
    parser.add_argument(
        "--backup-scope",
        choices=BACKUP_SCOPE_CHOICES,
        default=None,
        help="What the pre-migration backup holds: 'plan' (only the tables "
        "the plan can change; the whole database when they cannot be told), "
        "'full', or 'auto' (the plan's tables when the database is larger "
        "than MIGRATION_GUARD['BACKUP_SCOPE_THRESHOLD']). Default: "
        "MIGRATION_GUARD['BACKUP_SCOPE'].",
    )
    parser.add_argument(
        "--force-fake",
        action="store_true",
        help="With --fake/--fake-initial, record migrations whose effects the "
        "schema does not verify; needs --reason (kept in the ledger).",
    )
    parser.add_argument(
        "--reason",
        default="",
        metavar="TEXT",
        help="Why --force-fake is right; the ledger keeps it with the differences.",
    )
    parser.add_argument(
        "--allow-edited",
        action="store_true",
        help="Run even though an applied migration was edited since it was "
        "applied (see 'checkmigrations').",
    )


def add_deploy_arguments(parser: CommandParser) -> None:
    """The rehearsal on a copy, and the deploy phases."""
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="Run the plan and its revert on a copy of the database (a "
        "scratch database on the same server), with timings; the database "
        "itself is not changed.",
    )
    parser.add_argument(
        "--max-lock-ms",
        type=float,
        default=None,
        metavar="MS",
        help="With --rehearse: fail the rehearsal when a "
        "migration holds a lock that blocks writes for longer than MS.",
    )
    parser.add_argument(
        "--phase",
        choices=("pre-deploy", "post-deploy"),
        default=None,
        help="pre-deploy: apply the plan up to its first migration that the "
        "previous release cannot run with (README: Phases); post-deploy: "
        "apply the rest.",
    )


def refuse_misplaced(options: dict[str, Any]) -> None:
    """Options that go only with others: ``--phase``, ``--max-lock-ms``."""
    if options["phase"] and any(
        options[name]
        for name in (
            "rehearse",
            "plan",
            "check_unapplied",
            "fake",
            "fake_initial",
            "prune",
        )
    ):
        raise UsageError(
            "--phase goes with a plain run, not with --rehearse, --plan, "
            "--check, --fake, --fake-initial or --prune."
        )
    if options["max_lock_ms"] is not None and not options["rehearse"]:
        raise UsageError("--max-lock-ms goes with --rehearse.")


def run_request(
    alias: str,
    spec: TargetSpec,
    options: dict[str, Any],
    *,
    argv: list[str],
    expected: tuple[Key, ...] | None,
) -> runner.RunRequest:
    """The run the options ask for."""
    return runner.RunRequest(
        alias=alias,
        spec=spec,
        fake=options["fake"],
        fake_initial=options["fake_initial"],
        force_fake=options["force_fake"],
        reason=options["reason"],
        allow_edited=options["allow_edited"],
        run_syncdb=options["run_syncdb"],
        prune=options["prune"],
        no_backup=options["no_backup"],
        backup_scope=options.get("backup_scope"),
        lock_timeout=options["lock_timeout"],
        argv=argv,
        expected=expected,
        phase=options["phase"],
        lock_waits=lock_waits(options),
    )


def lock_waits(options: dict[str, Any]) -> LockWaits:
    """The lock waits of a run: the settings, overridden by the options given."""
    for name in (
        "lock_wait_timeout",
        "lock_wait_retries",
        "lock_wait_backoff",
        "statement_timeout",
    ):
        value = options.get(name)
        if value is not None and not value >= 0:  # NaN too
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be 0 or more, not {value:g}.")
    return from_settings(
        timeout=options.get("lock_wait_timeout"),
        statement_timeout=options.get("statement_timeout"),
        retries=options.get("lock_wait_retries"),
        backoff=options.get("lock_wait_backoff"),
    )
