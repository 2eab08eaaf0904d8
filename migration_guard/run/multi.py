"""Several databases in one run: one plan per alias, all or nothing.

The databases are migrated in the order of ``settings.DATABASES`` (not the
order they were named in), and their migration locks are taken in that same
order, so two such runs never wait for each other crosswise. Under all the
locks, each database's leftovers are recovered and its plan is made; then
each is backed up (the per-database decision of
:func:`~migration_guard.run.runner.backup_decision`) before any migration is
applied; then the plans run, database by database.

When the run fails on a database, that database's own failure handling runs
as for a run on one database (restored when half-done, per ``AUTO_RESTORE``);
then, unless ``AUTO_RESTORE`` is ``never``, every database the run changed
(the failed one included) is restored from its pre-run backup, the last one
first. The error names what happened to every database.

Each database keeps its own ledger row (the ledger lives in the database);
the rows are linked by ``runtime["group"]``, with ``runtime["databases"]``
listing the aliases of the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections

from migration_guard.backup.base import BackupError, Progress
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import (
    MigrationFailed,
    MigrationGuardError,
    RestoreFailed,
    RunInterrupted,
    UsageError,
)
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import interrupts, ledger, markers, recovery
from migration_guard.run.execution import Journal
from migration_guard.run.locking import migration_lock
from migration_guard.run.planning import Plan, check_alias
from migration_guard.run.runner import (
    Execute,
    RunRequest,
    RunResult,
    Say,
    _apply_retention,
    execute_locked,
    failure_of,
    locked_plan,
    prepare,
    quiet,
)

if TYPE_CHECKING:
    from migration_guard.backup.storage import Manifest


def ordered(aliases: Iterable[str]) -> list[str]:
    """``aliases`` without repeats, in the order of ``settings.DATABASES``."""
    wanted = dict.fromkeys(aliases)
    for alias in wanted:
        check_alias(alias)
    return [alias for alias in connections.settings if alias in wanted]


@dataclass
class Stage:
    """One database of the run: its plan, its ledger row, its backup."""

    request: RunRequest
    plan: Plan
    journal: Journal
    recording: ledger.Recording
    backup: Manifest | None = None
    #: the run reached the execution of this database's plan
    executed: bool = False

    @property
    def alias(self) -> str:
        return self.request.alias

    @property
    def run(self) -> MigrationRun:
        return self.recording.run

    @property
    def changed(self) -> bool:
        """Whether this database's plan applied anything."""
        request = self.request
        return bool(self.journal.executed) or (
            self.executed and (request.prune or request.run_syncdb)
        )


@dataclass
class MultiResult:
    """A run on several databases that succeeded: one result per database."""

    group: str
    results: list[RunResult]


def run_many(
    requests: Sequence[RunRequest],
    execute: Callable[[str], Execute],
    *,
    say: Say = quiet,
    progress: Progress | None = None,
    announce: Callable[[int], Callable[[int], None] | None] | None = None,
) -> MultiResult:
    """Run ``requests`` (one per database, in order) as one run.

    ``execute(alias)`` is how the plan of that database runs. Raises the
    error of the failed database, its message saying what happened to each.
    """
    group = str(uuid.uuid4())
    link = {"group": group, "databases": [request.alias for request in requests]}
    stages: list[Stage] = []
    restored: list[str] = []  # databases the recovery of earlier runs restored
    at: Stage | None = None  # the database the run is at (None: planning)
    with ExitStack() as locks:
        for request in requests:
            locks.enter_context(migration_lock(request.alias, request.timeout))
        try:
            for request in requests:
                stages.append(_stage(request, link, say, restored))
            for stage in stages:
                at = stage
                stage.backup = prepare(
                    stage.request, stage.plan, stage.journal, stage.recording,
                    say, progress,
                )  # fmt: skip
            for stage in stages:
                at = stage
                if announce is not None:
                    stage.journal.announce = announce(len(stage.plan.steps))
                stage.executed = True
                execute_locked(
                    stage.request, stage.plan, stage.journal, execute(stage.alias), say
                )
            at = None
            interrupts.defer()  # all done: a signal now lets the run record it
        except BaseException as exc:
            raise _failed(stages, at, exc, say, restored) from exc
        return MultiResult(group, [_finish(stage, say) for stage in stages])


def _stage(
    request: RunRequest, link: dict[str, Any], say: Say, restored: list[str]
) -> Stage:
    """Recover ``request``'s database (noting it in ``restored`` when that
    restored it), plan it, write its ledger row."""
    if recovery.recover(request.alias, say, held=link["databases"]):
        restored.append(request.alias)
    plan = locked_plan(request, say, restored=bool(restored))
    run = ledger.start_run(
        request.alias,
        command=request.command,
        direction=plan.direction,
        plan=[step.as_json() for step in plan.steps],
        applied_before=plan.applied_keys(),
        fake=request.fake or request.fake_initial,
        argv=request.argv,
        link=link,
    )
    recording = ledger.Recording(run)
    journal = Journal()
    recording.executed = journal.executed
    return Stage(request, plan, journal, recording)


def _finish(stage: Stage, say: Say) -> RunResult:
    """Record the success of ``stage``; apply the retention of its backups."""
    stage.journal.add_checksums()
    stage.recording.finish(Outcome.SUCCESS if stage.changed else Outcome.NOOP)
    warnings = list(stage.recording.warnings)
    if stage.backup is not None:
        warnings += _apply_retention(stage.alias, say)
    run = stage.run
    return RunResult(
        run, stage.plan, stage.journal, run.duration or 0.0, warnings, stage.backup
    )


def _failed(
    stages: list[Stage],
    failed: Stage | None,
    exc: BaseException,
    say: Say,
    restored: Sequence[str] = (),
) -> BaseException:
    """Record every database of a failed run, restore them; the error to raise.

    ``failed``: the database whose preparation or plan failed (None: the
    recovery or planning of one failed, before any backup).
    """
    interrupts.defer()  # the cleanup below must not be cut short
    if failed is None:
        return _nothing_changed(stages, exc, say, restored)
    error = failure_of(failed.recording, failed.journal, exc, failed.backup, say)
    lines = [_outcome_line(failed, error)]
    broken = False
    for stage in reversed(stages):
        if stage is not failed:
            line, ok = _undo(stage, failed, error, say)
            lines.append(line)
            broken = broken or not ok
    if _left_changed(failed):
        line, ok = _undo(failed, failed, error, say)
        lines.insert(1, line)
        broken = broken or not ok
    return _group_error(failed, error, lines, broken)


def _nothing_changed(
    stages: list[Stage], exc: BaseException, say: Say, restored: Sequence[str] = ()
) -> BaseException:
    """Recovery or planning failed: no backup taken, nothing applied anywhere
    (but what the recovery of earlier runs restored, ``restored``)."""
    for stage in stages:
        _undo(stage, None, exc, say)
    if not isinstance(exc, MigrationGuardError):
        return exc
    done = (
        " Nothing else was changed: the recovery of an interrupted run restored "
        "databases from their pre-run backups first (above)."
        if restored
        else " Nothing was changed on any database."
    )
    return type(exc)(f"{str(exc).rstrip()}{done}", returncode=exc.returncode)


def _restores_group() -> bool:
    return str(conf.AUTO_RESTORE) != "never"


def _left_changed(stage: Stage) -> bool:
    """A failed database whose failure left migrations of this run applied."""
    runtime = stage.run.runtime or {}
    return (
        stage.changed
        and stage.run.outcome in (Outcome.FAILED, Outcome.INTERRUPTED)
        and not runtime.get("needs_restore")
        and not runtime.get("resolved")
    )


def _outcome_line(stage: Stage, error: BaseException) -> str:
    return f"Database '{stage.alias}' (run {stage.run.pk}): {error}"


def _undo(
    stage: Stage, failed: Stage | None, error: BaseException, say: Say
) -> tuple[str, bool]:
    """Bring ``stage``'s database back to before the run; (line, whether it is)."""
    where = f"Database '{stage.alias}' (run {stage.run.pk})"
    why = (
        f"the run failed on database '{failed.alias}' (run {failed.run.pk})"
        if failed is not None
        else f"the run stopped: {error}"
    )
    note = f"{why}; nothing of this run on database '{stage.alias}' is kept."
    if not stage.changed:
        if not stage.recording.finished:
            outcome = Outcome.NOOP if stage.executed else Outcome.FAILED
            stage.recording.finish(outcome, error=f"Not migrated: {note}")
        return f"{where}: not changed.", True
    if not _restores_group():
        _finish_applied(stage, Outcome.FAILED, f"Left migrated: {why}.")
        return (
            f"{where}: left migrated (AUTO_RESTORE is 'never'); undo it with: "
            f"manage.py rollback --run {stage.run.pk} --database {stage.alias}",
            False,
        )
    if stage.backup is None:
        _finish_applied(stage, Outcome.RESTORE_FAILED, f"Not restored: {why}.")
        reason = stage.run.backup_note.removeprefix("skipped: ") or "none was taken"
        return (
            f"{where}: left migrated, no backup to restore ({reason}); undo it "
            f"with: manage.py rollback --run {stage.run.pk} --database {stage.alias}",
            False,
        )
    return _restore(stage, why, say)


def _finish_applied(stage: Stage, outcome: Outcome, text: str) -> None:
    stage.journal.add_checksums()
    stage.recording.finish(outcome, error=text)


def _restore(stage: Stage, why: str, say: Say) -> tuple[str, bool]:
    """Restore ``stage``'s pre-run backup; its ledger row says so."""
    backup, alias = stage.backup, stage.alias
    assert backup is not None
    where = f"Database '{alias}' (run {stage.run.pk})"
    say("MIGRATE_HEADING", f"Restoring database '{alias}' from its pre-run backup:")
    fields = {"backup_id": stage.run.backup_id, "backup_note": stage.run.backup_note}
    try:
        markers.restore_marked(alias, backup)
    except (BackupError, MigrationGuardError) as exc:
        _finish_applied(stage, Outcome.RESTORE_FAILED, f"Restore failed: {exc}")
        return (
            f"{where}: restoring backup {backup.id} failed: {exc} Restore it with: "
            f"manage.py migrationbackups restore {backup.id} --database {alias}",
            False,
        )
    say("MIGRATE_LABEL", f"  {backup.id}... OK")
    stage.journal.add_checksums()
    stage.recording.finish(Outcome.RESTORED, error=f"Restored because {why}.", **fields)
    return (
        f"{where}: restored from backup {backup.id} to its state before the run.",
        True,
    )


def _group_error(
    failed: Stage, error: BaseException, lines: list[str], broken: bool
) -> BaseException:
    """The error of the whole run: ``error``'s kind, every database's line."""
    message = "The run on several databases failed:\n  " + "\n  ".join(lines)
    run = failed.run
    if broken or isinstance(error, RestoreFailed):
        return RestoreFailed(message, run=run)
    if isinstance(error, (RunInterrupted, KeyboardInterrupt)):
        code = interrupts.exit_code_of(error) or getattr(error, "returncode", 130)
        return RunInterrupted(message, returncode=code, run=run)
    if isinstance(error, MigrationGuardError) and not isinstance(error, UsageError):
        return type(error)(message, returncode=error.returncode, run=run)
    if isinstance(error, UsageError):
        return UsageError(message, run=run)
    code = getattr(error, "returncode", None)
    return MigrationFailed(message, returncode=code, run=run)


def linked_runs(run: MigrationRun) -> list[tuple[str, MigrationRun]]:
    """The runs of ``run``'s group, one per database, in the run's order.

    A run on one database is its own group. Raises UsageError when a linked
    database is no longer configured or its ledger lost the run.
    """
    runtime = run.runtime or {}
    group = runtime.get("group")
    if not group:
        return [(run.alias, run)]
    found: list[tuple[str, MigrationRun]] = []
    for alias in runtime.get("databases", []):
        check_alias(alias)
        linked = (
            MigrationRun.objects.using(alias).filter(runtime__group=group).first()
            if ledger.has_table(alias)
            else None
        )
        if linked is None:
            raise UsageError(
                f"Run {run.pk} on database '{run.alias}' was one run on databases "
                f"{', '.join(runtime['databases'])}, but the ledger of database "
                f"'{alias}' has no run of it; nothing was changed."
            )
        found.append((alias, linked))
    return found
