"""One ``safemigrate`` run: lock -> plan -> execute -> record -> report failure.

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
from typing import Any

from django.core.management import CommandError
from django.core.management.commands import migrate as django_migrate
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations import RunPython

from safemigrate import ledger
from safemigrate.conf import safemigrate_settings as conf
from safemigrate.exceptions import MigrationFailed, RestoreFailed
from safemigrate.locking import migration_lock
from safemigrate.models import MigrationRun, Outcome
from safemigrate.planning import Plan, TargetSpec, build_plan

ProgressCallback = Callable[..., None]


@dataclass(frozen=True)
class RunRequest:
    alias: str
    spec: TargetSpec = field(default_factory=TargetSpec)
    fake: bool = False
    run_syncdb: bool = False
    prune: bool = False
    lock_timeout: float | None = None
    argv: list[str] | None = None
    command: str = "safemigrate"

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
        self._started = 0.0

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
        elif action in ("apply_success", "unapply_success") and migration is not None:
            self.executed.append(
                {
                    "app": migration.app_label,
                    "name": migration.name,
                    "action": "applied" if action == "apply_success" else "unapplied",
                    "fake": fake,
                    "seconds": round(time.monotonic() - self._started, 6),
                }
            )
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

    @property
    def outcome(self) -> str:
        return str(self.run.outcome)


Execute = Callable[[Plan, Journal], None]


def run(request: RunRequest, execute: Execute) -> RunResult:
    """Take the lock, plan, record the run, call ``execute``, record the end."""
    alias = request.alias
    with migration_lock(alias, request.timeout):
        started = time.monotonic()
        plan = build_plan(alias, request.spec, run_syncdb=request.run_syncdb)
        run_row = ledger.start_run(
            alias,
            command=request.command,
            direction=plan.direction,
            plan=[step.as_json() for step in plan.steps],
            applied_before=plan.applied_keys(),
            fake=request.fake,
            argv=request.argv,
        )
        journal = Journal()
        try:
            execute(plan, journal)
        except BaseException as exc:
            error = _failed(run_row, plan, journal, exc)
            error.run = run_row  # type: ignore[attr-defined]  # for --format json
            if error is exc:
                raise
            raise error from exc
        did_work = bool(journal.executed) or request.prune or request.run_syncdb
        warnings = ledger.finish_run(
            run_row,
            Outcome.SUCCESS if did_work else Outcome.NOOP,
            executed=journal.executed,
        )
        return RunResult(run_row, plan, journal, time.monotonic() - started, warnings)


def _failed(
    run_row: MigrationRun, plan: Plan, journal: Journal, exc: BaseException
) -> BaseException:
    """Record a failed run and return the exception to raise in its place."""
    failed = journal.current
    error = ledger.format_error(exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        _warn(
            ledger.finish_run(
                run_row, Outcome.INTERRUPTED, executed=journal.executed, error=error
            )
        )
        return exc
    if failed is None and not journal.executed and isinstance(exc, CommandError):
        # Refused before any migration ran: the database is as it was.
        _warn(
            ledger.finish_run(
                run_row, Outcome.FAILED, executed=journal.executed, error=error
            )
        )
        return exc
    alias = run_row.alias
    still_applied = [f"{item['app']}.{item['name']}" for item in journal.executed]
    what = f"Migration {failed.app_label}.{failed.name}" if failed else "The run"
    reason = f"{what} failed on database '{alias}': {type(exc).__name__}: {exc}"
    reason = reason.rstrip()
    reason += "" if reason.endswith(".") else "."
    if still_applied:
        earlier = (
            " Migrations done earlier in this run stay done: "
            + ", ".join(still_applied)
            + f". Run {run_row.pk} in the ledger records them."
        )
    else:
        earlier = " Nothing else of this run was applied."
    if failed is None or rolled_back_cleanly(failed, alias):
        _warn(
            ledger.finish_run(
                run_row, Outcome.FAILED, executed=journal.executed, error=error
            )
        )
        if failed is not None:
            reason += " The database rolled the migration back."
        return MigrationFailed(reason + earlier)
    _warn(
        ledger.finish_run(
            run_row, Outcome.RESTORE_FAILED, executed=journal.executed, error=error
        )
    )
    why = (
        "it is not atomic"
        if not failed.atomic
        else f"{connections[alias].vendor} cannot roll back DDL"
    )
    return RestoreFailed(
        f"{reason} The database could not undo the migration ({why}), so part "
        "of it may be applied, and no backup of this run exists to restore. "
        f"Inspect the schema before running again.{earlier}"
    )


def _warn(messages: list[str]) -> None:
    for message in messages:
        sys.stderr.write(message + "\n")
