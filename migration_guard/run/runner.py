"""One ``guardedmigrate`` run: lock -> plan -> backup -> execute -> record -> restore.

The execution itself is Django's own ``migrate`` code, handed the executor
whose plan was computed here under the lock (see :func:`django_migrate_uses`),
so targets, output, signals and the plan are exactly ``migrate``'s.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.management import CommandError
from django.core.management.commands import migrate as django_migrate
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations import RunPython

from migration_guard.backup.base import BackupError, Progress
from migration_guard.compat.management import raw_stream
from migration_guard.compat.migrations import applied_state
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import (
    BackupFailed,
    MigrationFailed,
    MigrationGuardError,
    RecoveryRequired,
    RestoreFailed,
    RunInterrupted,
    UsageError,
)
from migration_guard.management.render import human_size
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import interrupts, ledger, locktimeouts
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

ProgressCallback = Callable[..., None]


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


class Journal:
    """What the executor did, from its progress callback, with timings."""

    def __init__(self) -> None:
        self.executed: list[dict[str, Any]] = []
        self.current: Migration | None = None
        #: what the ledger keeps about each faked migration's verification
        self.verifications: dict[tuple[str, str], dict[str, Any]] = {}
        self._to_checksum: list[tuple[dict[str, Any], Migration]] = []
        self._started = 0.0
        #: shows "migration n of N" before each one starts (a terminal only)
        self.announce: Callable[[int], None] | None = None
        self._starts = 0

    def add_checksums(self) -> None:
        """Store the checksum of each migration applied (or faked) this run.

        Done once the executor is finished rather than as each migration
        completes. The work is the same (0.12 s for 300 migrations), but
        done between migrations it cost 0.8 s of CPU on PostgreSQL
        (bench/apply.py: 1.15x migrate, now 1.02x); the likely cause is the
        garbage collector walking the executor's rendered states again,
        triggered by the checksums' allocations.
        """
        from migration_guard.gates.checksums import checksum

        for entry, migration in self._to_checksum:
            entry["checksum"] = checksum(migration).as_json()
        self._to_checksum.clear()

    def wrap(self, callback: ProgressCallback | None) -> ProgressCallback:
        def progress(
            action: str, migration: Migration | None = None, fake: bool = False
        ) -> None:
            self.record(action, migration, fake)
            if callback is not None:
                callback(action, migration, fake)

        return progress

    def record(self, action: str, migration: Migration | None, fake: bool) -> None:
        if action in ("apply_start", "unapply_start"):
            self.current = migration
            self._started = time.monotonic()
            self._starts += 1
            if self.announce is not None:
                self.announce(self._starts)
        elif action in ("apply_success", "unapply_success") and migration is not None:
            self.executed.append(
                {
                    "app": migration.app_label,
                    "name": migration.name,
                    "action": "applied" if action == "apply_success" else "unapplied",
                    "fake": fake,
                    "seconds": round(time.monotonic() - self._started, 6),
                    **(
                        self.verifications.get(
                            (migration.app_label, migration.name), {}
                        )
                        if fake
                        else {}
                    ),
                }
            )
            if action == "apply_success":
                self._to_checksum.append((self.executed[-1], migration))
            self.current = None


@contextlib.contextmanager
def django_migrate_uses(
    executor: MigrationExecutor, journal: Journal
) -> Iterator[None]:
    """Make Django's ``migrate`` command run with ``executor``.

    ``migrate`` builds its executor from a module-level name and offers no
    hook; swapping that name for the duration of the call (as django-syzygy
    does) reuses the loader built for the plan instead of loading the graph
    twice. The name is put back afterwards, so ``migrate`` itself is untouched.
    """

    def factory(
        connection: Any, progress_callback: ProgressCallback | None = None
    ) -> MigrationExecutor:
        executor.progress_callback = journal.wrap(progress_callback)
        return executor

    original = django_migrate.MigrationExecutor  # type: ignore[attr-defined]
    django_migrate.MigrationExecutor = factory  # type: ignore[attr-defined]
    try:
        yield
    finally:
        django_migrate.MigrationExecutor = original  # type: ignore[attr-defined]


def rolled_back_cleanly(migration: Migration, alias: str) -> bool:
    """Whether the database undid everything ``migration`` did when it failed."""
    if not migration.atomic:
        return False
    if connections[alias].features.can_rollback_ddl:
        return True
    return all(isinstance(op, RunPython) for op in migration.operations)


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
    failed migration is reported by :func:`_failed`, which restores the
    pre-run backup when the database could not roll the failure back.
    """
    alias = request.alias
    with migration_lock(alias, request.timeout):
        recover(alias, say)
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
            raise UsageError(
                "The plan changed while the preview was shown (another run "
                "migrated the database); nothing was done. Run the command again."
            )
        run_row = ledger.start_run(
            alias,
            command=request.command,
            direction=plan.direction,
            plan=[step.as_json() for step in plan.steps],
            applied_before=plan.applied_keys(),
            fake=request.fake or request.fake_initial,
            argv=request.argv,
        )
        journal = Journal()
        if announce is not None:
            journal.announce = announce(len(plan.steps))
        backup: Manifest | None = None
        try:
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
            backup = _backup(request, plan, run_row, say, progress)
            bounded = locktimeouts.bounded(
                plan.executor, journal, request.lock_waits, say
            )
            with bounded, cancellable_queries(alias):
                execute(plan, journal)
            # the work is done: a signal from now on lets the run record it
            interrupts.defer()
        except BaseException as exc:
            error = _failed(run_row, journal, exc, backup, say)
            error.run = run_row  # type: ignore[attr-defined]  # for --format json
            if error is exc:
                raise
            raise error from exc
        journal.add_checksums()
        did_work = bool(journal.executed) or request.prune or request.run_syncdb
        warnings = ledger.finish_run(
            run_row,
            Outcome.SUCCESS if did_work else Outcome.NOOP,
            executed=journal.executed,
        )
        if backup is not None:
            warnings += _apply_retention(alias, say)
        # the ledger's duration: the same number in every command and page
        return RunResult(
            run_row, plan, journal, run_row.duration or 0.0, warnings, backup
        )


def recover(alias: str, say: Say) -> None:
    """Before anything: what earlier runs killed on this database left behind.

    Stale ``.partial`` files of dead runs are removed; a restore that did not
    finish, or an interrupted run that left the database half-migrated, stops
    the run (exit 7) with the command that brings the database back, unless
    ``AUTO_RESTORE`` is ``always``: then the pre-run backup of that run is
    restored here (and the run goes on).
    """
    from migration_guard.backup.storage import get_store
    from migration_guard.run import recovery

    with contextlib.suppress(OSError, BackupError):
        get_store().remove_stale_partials()
    # first: a killed load may have dropped the ledger table with the rest
    recovery.refuse_unfinished_restore(alias)
    if not ledger.has_table(alias):
        return
    ledger.ensure_table(alias)  # an older ledger gets the runtime column
    recovery.find_dead_runs(alias, say)
    for pending in recovery.pending_restores(alias):
        if conf.AUTO_RESTORE != "always" or not pending.run.backup_id:
            raise RecoveryRequired(pending.message(alias))
        restore_interrupted(alias, pending.run, say=say, locked=True)


def restore_interrupted(
    alias: str,
    run_row: MigrationRun,
    *,
    say: Say,
    locked: bool,
    lock_timeout: float | None = None,
    argv: list[str] | None = None,
    command: str = "guardedmigrate",
    progress: Callable[[str], Progress | None] = lambda label: None,
) -> Any:
    """Restore the pre-run backup of interrupted run ``run_row``; resolve it."""
    from migration_guard.backup import guarded
    from migration_guard.backup.catalog import find
    from migration_guard.backup.storage import get_store
    from migration_guard.run import recovery

    manifest = find(run_row.backup_id)
    store = get_store()
    guarded.check(manifest, alias, store)
    say(
        "MIGRATE_HEADING",
        f"Run {run_row.pk} was interrupted half-way; restoring its pre-run "
        f"backup {manifest.id}:",
    )
    done = guarded.restore(
        alias,
        manifest,
        store=store,
        lock_timeout=float(conf.LOCK_TIMEOUT if lock_timeout is None else lock_timeout),
        command=command,
        argv=argv if argv is not None else list(sys.argv),
        say=say,
        progress=progress,
        locked=locked,
    )
    recovery.resolve(
        run_row, f"restored from {manifest.id} by run {done.run.pk}", alias
    )
    return done


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
    from migration_guard.backup.catalog import create_backup
    from migration_guard.backup.storage import get_store

    say("MIGRATE_HEADING", "Backing up database:")
    try:
        manifest = create_backup(
            request.alias,
            reason="pre-migrate",
            run_id=run_row.pk,
            plan=run_row.plan,
            applied_before=run_row.applied_before,
            progress=progress,
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
    say(
        "MIGRATE_LABEL",
        f"  {manifest.id}... "
        + f"OK ({human_size(manifest.size)}, sha256 verified, {manifest.seconds:.2f}s)",
    )
    run_row.backup_id = manifest.id
    run_row.backup_note = f"taken: {get_store().location(manifest)}"
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


def _failed(
    run_row: MigrationRun,
    journal: Journal,
    exc: BaseException,
    backup: Manifest | None,
    say: Say,
) -> BaseException:
    """Record a failed run, restore when needed; return the exception to raise.

    The database is *consistent* when the failure left nothing half-done:
    the failed migration was rolled back by the database (or no migration
    was running). ``AUTO_RESTORE`` decides when the pre-run backup is
    restored: ``auto`` when the database is not consistent, ``always`` when
    anything of this run was applied, ``never`` not at all.
    """
    interrupts.defer()  # the cleanup below must not be cut short
    failed = journal.current
    error = ledger.format_error(exc)
    alias = run_row.alias
    interrupted = isinstance(exc, KeyboardInterrupt) or (
        interrupts.received() is not None and not isinstance(exc, MigrationGuardError)
    )
    if interrupted:
        _reset_connection(alias)
        if not isinstance(exc, KeyboardInterrupt):  # the driver's own error
            exc = interrupts.Interrupted(interrupts.received() or 2)

    def finish(outcome: Outcome, **fields: Any) -> None:
        journal.add_checksums()
        _warn(
            ledger.finish_run(
                run_row, outcome, executed=journal.executed, error=error, **fields
            )
        )

    if isinstance(exc, BackupFailed):
        finish(Outcome.FAILED, backup_note=f"failed: {exc.__cause__}"[:200])
        return exc
    if isinstance(exc, SystemExit) and failed is None:
        finish(Outcome.INTERRUPTED)
        return exc
    if failed is None and not journal.executed and isinstance(exc, CommandError):
        finish(Outcome.FAILED)  # refused before anything ran: nothing changed
        return exc
    what = f"Migration {failed.app_label}.{failed.name}" if failed else "The run"
    if interrupted:
        reason = f"{what} on database '{alias}' was {exc} (run {run_row.pk})."
    else:
        reason = f"{what} failed on database '{alias}': {type(exc).__name__}: {exc}"
        reason = reason.rstrip()
        reason += "" if reason.endswith(".") else "."
    done = [f"{item['app']}.{item['name']}" for item in journal.executed]
    rolled_back = failed is None or rolled_back_cleanly(failed, alias)
    consistent = rolled_back or locktimeouts.nothing_applied(exc)
    policy = conf.AUTO_RESTORE
    if consistent:
        cause = (
            "The database rolled the migration back." if failed and rolled_back else ""
        )
    else:
        cause = _why_not_rolled_back(failed, alias)
    restore = (policy == "auto" and not consistent) or (
        policy == "always" and not (consistent and not done)
    )
    earlier = (
        f" Migrations done earlier in this run stay done: {', '.join(done)}."
        f" Run {run_row.pk} in the ledger records them."
        if done
        else " Nothing else of this run was applied."
    )
    if not restore and consistent:
        if interrupted:
            finish(Outcome.INTERRUPTED)
            return _interrupted(exc, f"{reason} {cause}{earlier}")
        finish(Outcome.FAILED)
        return MigrationFailed(f"{reason} {cause}{earlier}".replace("  ", " "))
    if not restore or backup is None:
        if interrupted:  # the next run stops until this is resolved
            finish(
                Outcome.INTERRUPTED,
                runtime={
                    **run_row.runtime,
                    "needs_restore": True,
                    "in_progress": failed.app_label + "." + failed.name
                    if failed
                    else "",
                },
            )
        else:
            finish(Outcome.RESTORE_FAILED)
        if backup is None:
            why = run_row.backup_note.removeprefix("skipped: ") or "none was taken"
            advice = f"No backup of this run exists to restore ({why})."
        else:
            advice = (
                f"AUTO_RESTORE is '{policy}', so the database was not restored. "
                "To go back to the state before the run: manage.py "
                f"rollback --run {run_row.pk} --strategy restore --database {alias}"
            )
        return RestoreFailed(
            f"{reason} {cause} Part of it may be applied. {advice}{earlier} "
            "Inspect the schema before running again."
        )
    from migration_guard.backup.catalog import restore_backup
    from migration_guard.run import recovery

    say("MIGRATE_HEADING", "Restoring the backup taken before the run:")
    marked = recovery.marks_restores(alias)
    try:
        if marked:
            recovery.set_marker(alias, backup.id)
        restore_backup(alias, backup)
    except (BackupError, MigrationGuardError) as restore_error:
        finish(Outcome.INTERRUPTED if interrupted else Outcome.RESTORE_FAILED)
        return RestoreFailed(
            f"{reason} {cause} Restoring backup {backup.id} failed too: "
            f"{restore_error} The database may be half-migrated. Restore it with: "
            f"manage.py migrationbackups restore {backup.id} --database {alias}"
        )
    if marked:
        recovery.clear_marker(alias)
    say("MIGRATE_LABEL", f"  {backup.id}... " + "OK")
    if interrupted:
        finish(Outcome.INTERRUPTED, runtime={**run_row.runtime, "resolved": "restored"})
        return _interrupted(
            exc,
            f"{reason} {cause} The database was restored from backup {backup.id} "
            "to its state before the run.",
        )
    finish(Outcome.RESTORED)
    return MigrationFailed(
        f"{reason} {cause} The database was restored from backup {backup.id} "
        "to its state before the run."
    )


def _interrupted(exc: BaseException, message: str) -> BaseException:
    from migration_guard.run.interrupts import exit_code_of

    return RunInterrupted(
        message.replace("  ", " "), returncode=exit_code_of(exc) or 130
    )


def _reset_connection(alias: str) -> None:
    """Drop the connection a signal cut short (MySQL: "Commands out of sync").

    The statement it was running may still be unread on the wire; closing
    it rolls back what the server can, and the next query reconnects.
    """
    connection = connections[alias]
    if connection.vendor == "mysql" and connection.connection is not None:
        # the statement goes on on the server (and holds its locks) until
        # its connection is killed: a restore would wait for it
        with contextlib.suppress(Exception):
            thread = connection.connection.thread_id()
            killer = connections.create_connection(alias)
            try:
                with killer.cursor() as cursor:
                    cursor.execute("KILL CONNECTION %s", [int(thread)])
            finally:
                killer.close()
    try:
        connection.close()
    except Exception:  # the connection is broken: forget it
        connection.connection = None
    connection.in_atomic_block = False
    connection.needs_rollback = False
    connection.savepoint_ids = []
    connection.closed_in_transaction = False


def _why_not_rolled_back(failed: Migration | None, alias: str) -> str:
    assert failed is not None
    if not failed.atomic:
        return "The database could not roll it back (the migration is not atomic)."
    vendor = connections[alias].vendor
    return f"The database could not roll it back ({vendor} cannot roll back DDL)."


def _warn(messages: list[str]) -> None:
    for message in messages:
        sys.stderr.write(message + "\n")


def execute_plan(
    plan: Plan, journal: Journal, *, verbosity: int, interactive: bool, stdout: Any
) -> None:
    """Run a plan of several targets as ``migrate`` runs one target.

    ``migrate`` takes a single target, so a rollback to per-app targets runs
    the executor itself, with migrate's progress output and its signals.
    """
    from django.core.management.sql import (
        emit_post_migrate_signal,
        emit_pre_migrate_signal,
    )

    raw = raw_stream(stdout)  # migrate's own wrapper adds newlines
    printer = django_migrate.Command(stdout=raw, no_color=True)
    printer.verbosity = verbosity
    executor = plan.executor
    executor.progress_callback = journal.wrap(printer.migration_progress_callback)
    alias = executor.connection.alias
    pre_state = applied_state(executor)
    emit_pre_migrate_signal(
        verbosity,
        interactive,
        alias,
        stdout=stdout,
        apps=pre_state.apps,
        plan=plan.django_plan,
    )
    post_state = executor.migrate(
        plan.resolution.targets, plan=plan.django_plan, state=pre_state.clone()
    )
    post_state.clear_delayed_apps_cache()
    emit_post_migrate_signal(
        verbosity,
        interactive,
        alias,
        stdout=stdout,
        apps=post_state.apps,
        plan=plan.django_plan,
    )
