"""One ``guardedmigrate`` run: lock -> plan -> backup -> execute -> record -> restore.

What earlier runs left is looked at first (:mod:`~migration_guard.run.recovery`);
the execution is Django's own ``migrate`` code
(:mod:`~migration_guard.run.execution`); a failure is recorded, and restored
when needed, by :mod:`~migration_guard.run.failure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migration_guard.backup.base import BackupError, Progress
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import BackupFailed, UsageError
from migration_guard.management.render import human_size
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import interrupts, ledger, locktimeouts, recovery
from migration_guard.run.execution import Journal
from migration_guard.run.failure import failed_run
from migration_guard.run.interrupts import cancellable_queries
from migration_guard.run.locking import migration_lock
from migration_guard.run.planning import (
    Key,
    Plan,
    Resolution,
    Target,
    TargetSpec,
    build_plan,
    load,
    plan_for,
)

if TYPE_CHECKING:
    from migration_guard.backup.storage import Manifest


@dataclass(frozen=True)
class RunRequest:
    alias: str
    spec: TargetSpec = field(default_factory=TargetSpec)
    fake: bool = False
    #: ``--fake-initial``: only initial migrations whose tables exist are faked
    fake_initial: bool = False
    #: record fakes that do not verify, with the reason (``--force-fake``)
    force_fake: bool = False
    reason: str = ""
    #: run even when an applied migration was edited since (``--allow-edited``)
    allow_edited: bool = False
    run_syncdb: bool = False
    prune: bool = False
    no_backup: bool = False
    #: ``--backup-scope``: what the backup holds (None: BACKUP_SCOPE)
    backup_scope: str | None = None
    lock_timeout: float | None = None
    argv: list[str] | None = None
    command: str = "guardedmigrate"
    #: explicit per-app targets (rollback of a ledger run) instead of ``spec``
    targets: tuple[Target, ...] | None = None
    #: the plan the user confirmed; the run stops if the locked plan differs
    expected: tuple[Key, ...] | None = None
    #: ``--phase pre-deploy|post-deploy``: the part of the plan to apply
    phase: str | None = None
    #: lock waits and retries of each migration (None: the settings)
    lock_waits: locktimeouts.LockWaits | None = None

    @property
    def timeout(self) -> float:
        if self.lock_timeout is not None:
            return self.lock_timeout
        return float(conf.LOCK_TIMEOUT)


@dataclass
class RunResult:
    run: MigrationRun
    plan: Plan
    journal: Journal
    seconds: float
    warnings: list[str] = field(default_factory=list)
    backup: Manifest | None = None

    @property
    def outcome(self) -> str:
        return str(self.run.outcome)


Execute = Callable[[Plan, Journal], None]
Say = Callable[[str, str], None]
"""Reports progress to the user: ``say(style, text)``, style a ``self.style`` name."""


def quiet(style: str, text: str) -> None:
    """A ``say`` that says nothing (``--format json``, ``-v 0``)."""


def backup_decision(request: RunRequest, plan: Plan) -> tuple[bool, str]:
    """Whether this run takes a backup, and the note the ledger keeps if not."""
    has_work = bool(plan.steps) or request.run_syncdb or request.prune
    if request.no_backup:
        return False, "skipped: --no-backup"
    if conf.BACKUP == "never":
        return False, "skipped: MIGRATION_GUARD['BACKUP'] is 'never'"
    if conf.BACKUP == "auto" and not has_work:
        return False, ""
    return True, ""


def run(
    request: RunRequest,
    execute: Execute,
    *,
    say: Say = quiet,
    progress: Progress | None = None,
    announce: Callable[[int], Callable[[int], None] | None] | None = None,
) -> RunResult:
    """Lock, plan, record, back up, call ``execute``, record the end.

    A failed backup stops the run before anything is applied (exit 5). A
    failed migration is reported by :func:`~migration_guard.run.failure.failed_run`,
    which restores the pre-run backup when the database could not roll the
    failure back.
    """
    alias = request.alias
    with migration_lock(alias, request.timeout):
        restored = recovery.recover(alias, say)
        plan = locked_plan(request, say, restored=restored)
        journal = Journal()
        if announce is not None:
            journal.announce = announce(len(plan.steps))
        with ledger.recorded(
            ledger.start_run(
                alias,
                command=request.command,
                direction=plan.direction,
                plan=[step.as_json() for step in plan.steps],
                applied_before=plan.applied_keys(),
                fake=request.fake or request.fake_initial,
                argv=request.argv,
            )
        ) as recording:
            recording.executed = journal.executed
            backup = _apply(request, plan, journal, recording, execute, say, progress)
            journal.add_checksums()
            did_work = bool(journal.executed) or request.prune or request.run_syncdb
            recording.finish(Outcome.SUCCESS if did_work else Outcome.NOOP)
        warnings = list(recording.warnings)
        if backup is not None:
            warnings += _apply_retention(alias, say)
        # the ledger's duration: the same number in every command and page
        run_row = recording.run
        return RunResult(
            run_row, plan, journal, run_row.duration or 0.0, warnings, backup
        )


def locked_plan(request: RunRequest, say: Say, *, restored: bool = False) -> Plan:
    """The plan of ``request`` as it is under the lock (the phase's part of it).

    The plan the user confirmed must still be the plan: another run may have
    migrated the database while the preview was shown, or the recovery of an
    interrupted run (``restored``) restored it just now.
    """
    alias = request.alias
    if request.targets is None:
        plan = build_plan(alias, request.spec, run_syncdb=request.run_syncdb)
    else:
        plan = plan_for(load(alias), Resolution(list(request.targets), False))
    if request.phase is not None:
        from migration_guard.run.phases import restrict

        plan, selection = restrict(plan, request.phase)
        for line in selection.lines():
            say("MIGRATE_HEADING", line)
    if request.expected is not None and request.expected != plan.keys():
        if restored:
            raise UsageError(
                "The plan changed while the preview was shown: the database was "
                "restored from the pre-run backup of an interrupted run first "
                "(above); nothing else was done. Run the command again to see "
                "the plan from there."
            )
        raise UsageError(
            "The plan changed while the preview was shown (another run "
            "migrated the database); nothing was done. Run the command again."
        )
    return plan


def _apply(
    request: RunRequest,
    plan: Plan,
    journal: Journal,
    recording: ledger.Recording,
    execute: Execute,
    say: Say,
    progress: Progress | None,
) -> Manifest | None:
    """Verify, back up and execute ``plan``; on failure, the error to exit with."""
    backup: Manifest | None = None
    try:
        backup = prepare(request, plan, journal, recording, say, progress)
        execute_locked(request, plan, journal, execute, say)
        # the work is done: a signal from now on lets the run record it
        interrupts.defer()
    except BaseException as exc:
        error = failure_of(recording, journal, exc, backup, say)
        if error is exc:
            raise
        raise error from exc
    return backup


def prepare(
    request: RunRequest,
    plan: Plan,
    journal: Journal,
    recording: ledger.Recording,
    say: Say,
    progress: Progress | None,
) -> Manifest | None:
    """Before anything is applied: refuse edits and unverified fakes, back up."""
    if plan.steps and not request.allow_edited:
        refuse_edited(plan)
    if request.fake or request.fake_initial:
        from migration_guard.reconcile.verdict import guard_fake

        journal.verifications = guard_fake(
            plan,
            fake_initial=request.fake_initial and not request.fake,
            force=request.force_fake,
            reason=request.reason,
        )
    return _backup(request, plan, recording.run, say, progress)


def execute_locked(
    request: RunRequest, plan: Plan, journal: Journal, execute: Execute, say: Say
) -> None:
    """Call ``execute`` with the lock waits bounded and the queries cancellable."""
    bounded = locktimeouts.bounded(plan.executor, journal, request.lock_waits, say)
    with bounded, cancellable_queries(request.alias):
        execute(plan, journal)


def failure_of(
    recording: ledger.Recording,
    journal: Journal,
    exc: BaseException,
    backup: Manifest | None,
    say: Say,
) -> BaseException:
    """Record the failed run (restore when needed); the error to raise.

    The error carries the run's ledger row (``run``), which the command
    reports with it: a MigrationGuardError's, set on migrate's CommandError too.
    """
    error = failed_run(recording, journal, exc, backup, say)
    error.run = recording.run  # type: ignore[attr-defined]
    return error


def refuse_edited(plan: Plan) -> None:
    """Stop before running a plan on top of applied migrations edited since."""
    from migration_guard.exceptions import VerificationRefused
    from migration_guard.gates.checksums import edited_migrations

    alias = plan.executor.connection.alias
    edits = [
        edit
        for edit in edited_migrations(alias, plan.loader)
        if edit.operations_changed
    ]
    if edits:
        raise VerificationRefused(
            f"{len(edits)} applied migration{'s were' if len(edits) != 1 else ' was'} "
            f"edited since {'they were' if len(edits) != 1 else 'it was'} applied "
            f"on database '{alias}'; nothing was changed.\n  "
            + "\n  ".join(edit.message() for edit in edits)
            + "\nThe database has what the old file did. Put the file back, or "
            "record the edit with 'manage.py checkmigrations --accept APP NAME "
            "--reason TEXT', or run with --allow-edited."
        )


def _backup(
    request: RunRequest,
    plan: Plan,
    run_row: MigrationRun,
    say: Say,
    progress: Progress | None,
) -> Manifest | None:
    wanted, note = backup_decision(request, plan)
    if not wanted:
        if note:
            run_row.backup_note = note
            run_row.save(using=run_row.alias, update_fields=["backup_note"])
            say("NOTICE", f"No backup: {note.removeprefix('skipped: ')}.")
        return None
    from migration_guard.backup import scoped
    from migration_guard.backup.catalog import create_backup
    from migration_guard.backup.storage import get_store

    say("MIGRATE_HEADING", "Backing up database:")
    try:
        choice = scoped.choose(
            request.backup_scope, plan, request.alias, run_syncdb=request.run_syncdb
        )
        if choice.note:
            say("NOTICE", f"  A backup of the whole database: {choice.note}.")
        manifest = create_backup(
            request.alias,
            reason="pre-migrate",
            run_id=run_row.pk,
            plan=run_row.plan,
            applied_before=run_row.applied_before,
            progress=progress,
            tables=choice.tables,
        )
    except Exception as exc:  # fail closed: whatever broke, nothing is applied
        detail = (
            str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"
        )
        raise BackupFailed(
            f"The backup of database '{request.alias}' failed, so nothing was "
            f"applied: {detail.rstrip('.')}. Fix the cause, or pass --no-backup "
            "to migrate without one (the ledger records that)."
        ) from exc
    held = f"the plan's {scoped.describe_scope(manifest.scope_tables)}, " * bool(
        manifest.scope
    )
    say(
        "MIGRATE_LABEL",
        f"  {manifest.id}... OK ({held}{human_size(manifest.size)}, sha256 "
        f"verified, {manifest.seconds:.2f}s)",
    )
    run_row.backup_id = manifest.id
    kind = f"plan-scoped, {len(manifest.scope_tables)} tables: " * bool(manifest.scope)
    run_row.backup_note = f"taken: {kind}{get_store().location(manifest)}"[:200]
    run_row.save(using=run_row.alias, update_fields=["backup_id", "backup_note"])
    return manifest


def _apply_retention(alias: str, say: Say) -> list[str]:
    from migration_guard.backup.catalog import prune

    try:
        removed = prune(alias, int(conf.KEEP))
    except (OSError, BackupError) as exc:
        return [f"Could not apply the retention of backups (KEEP): {exc}"]
    if removed:
        say(
            "MIGRATE_LABEL",
            f"Removed {len(removed)} old backup{'s' if len(removed) > 1 else ''} "
            f"of database '{alias}' (KEEP={conf.KEEP}).",
        )
    return []
