"""A failed run: what it left, its ledger outcome, the restore, the error to exit with.

The database is *consistent* when the failure left nothing half-done: the
failed migration was rolled back by the database (or no migration was
running). ``AUTO_RESTORE`` decides when the pre-run backup is restored:
``auto`` when the database is not consistent, ``always`` when anything of
this run was applied, ``never`` not at all.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.core.management import CommandError
from django.db import connections
from django.db.migrations.migration import Migration

from migration_guard.backup.base import BackupError
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import (
    BackupFailed,
    MigrationFailed,
    MigrationGuardError,
    RestoreFailed,
    RunInterrupted,
)
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import interrupts, ledger, locktimeouts
from migration_guard.run.execution import Journal, rolled_back_cleanly

if TYPE_CHECKING:
    from collections.abc import Callable

    from migration_guard.backup.storage import Manifest

    Say = Callable[[str, str], None]


@dataclass
class Failure:
    """A run that failed, and what the failure left of it."""

    recording: ledger.Recording
    journal: Journal
    #: what ended the run (a signal's driver error is the signal here)
    exc: BaseException
    #: the traceback the ledger keeps
    error: str
    #: a signal (SIGINT, SIGTERM, SIGHUP) ended it
    interrupted: bool

    @property
    def run(self) -> MigrationRun:
        return self.recording.run

    @property
    def alias(self) -> str:
        return self.run.alias

    @property
    def migration(self) -> Migration | None:
        """The migration that was running when the run failed, if any."""
        return self.journal.current

    def finish(self, outcome: Outcome, **fields: Any) -> None:
        """Record the end of the run; what the ledger could not write, on stderr."""
        self.journal.add_checksums()
        for message in self.recording.finish(outcome, error=self.error, **fields):
            sys.stderr.write(message + "\n")

    @cached_property
    def done(self) -> list[str]:
        return [f"{item['app']}.{item['name']}" for item in self.journal.executed]

    @cached_property
    def rolled_back(self) -> bool:
        failed = self.migration
        return failed is None or rolled_back_cleanly(failed, self.alias)

    @cached_property
    def consistent(self) -> bool:
        return self.rolled_back or locktimeouts.nothing_applied(self.exc)

    @cached_property
    def restores(self) -> bool:
        """Whether ``AUTO_RESTORE`` asks for the pre-run backup back."""
        return restores(conf.AUTO_RESTORE, self.consistent, bool(self.done))

    @cached_property
    def reason(self) -> str:
        failed, alias, exc = self.migration, self.alias, self.exc
        what = f"Migration {failed.app_label}.{failed.name}" if failed else "The run"
        if self.interrupted:
            return f"{what} on database '{alias}' was {exc} (run {self.run.pk})."
        reason = f"{what} failed on database '{alias}': {type(exc).__name__}: {exc}"
        reason = reason.rstrip()
        return reason + ("" if reason.endswith(".") else ".")

    @cached_property
    def cause(self) -> str:
        failed = self.migration
        if self.consistent:
            rolled = failed is not None and self.rolled_back
            return "The database rolled the migration back." if rolled else ""
        assert failed is not None
        if not failed.atomic:
            return "The database could not roll it back (the migration is not atomic)."
        vendor = connections[self.alias].vendor
        return f"The database could not roll it back ({vendor} cannot roll back DDL)."

    @cached_property
    def earlier(self) -> str:
        if not self.done:
            return " Nothing else of this run was applied."
        return (
            f" Migrations done earlier in this run stay done: {', '.join(self.done)}."
            f" Run {self.run.pk} in the ledger records them."
        )


def restores(policy: str, consistent: bool, applied: bool) -> bool:
    """Whether ``AUTO_RESTORE`` = ``policy`` restores the pre-run backup.

    ``auto``: when the failure left the database half-done (not
    ``consistent``); ``always``: also when migrations of the run were
    ``applied`` before it; ``never``: never.
    """
    if policy == "auto":
        return not consistent
    if policy == "always":
        return not consistent or applied
    return False


def failed_run(
    recording: ledger.Recording,
    journal: Journal,
    exc: BaseException,
    backup: Manifest | None,
    say: Say,
) -> BaseException:
    """Record a failed run, restore when needed; return the exception to raise."""
    interrupts.defer()  # the cleanup below must not be cut short
    error = ledger.format_error(exc)
    interrupted = isinstance(exc, KeyboardInterrupt) or (
        interrupts.received() is not None and not isinstance(exc, MigrationGuardError)
    )
    if interrupted:
        reset_connection(recording.run.alias)
        if not isinstance(exc, KeyboardInterrupt):  # the driver's own error
            exc = interrupts.Interrupted(interrupts.received() or 2)
    failure = Failure(recording, journal, exc, error, interrupted)
    early = _ended_early(failure)
    if early is not None:
        return early
    if not failure.restores and failure.consistent:
        return _left_consistent(failure)
    if not failure.restores or backup is None:
        return _not_restored(failure, backup)
    return _restored(failure, backup, say)


def _ended_early(failure: Failure) -> BaseException | None:
    """A run that failed before any migration ran: it is recorded, as it is."""
    exc = failure.exc
    if isinstance(exc, BackupFailed):
        failure.finish(Outcome.FAILED, backup_note=f"failed: {exc.__cause__}"[:200])
        return exc
    if isinstance(exc, SystemExit) and failure.migration is None:
        failure.finish(Outcome.INTERRUPTED)
        return exc
    refused = isinstance(exc, (MigrationGuardError, CommandError))
    if failure.migration is None and not failure.journal.executed and refused:
        failure.finish(Outcome.FAILED)  # refused before anything ran: nothing changed
        return exc
    return None


def _left_consistent(failure: Failure) -> BaseException:
    message = f"{failure.reason} {failure.cause}{failure.earlier}"
    if failure.interrupted:
        failure.finish(Outcome.INTERRUPTED)
        return _interrupted(failure.exc, message)
    failure.finish(Outcome.FAILED)
    return MigrationFailed(message.replace("  ", " "))


def _not_restored(failure: Failure, backup: Manifest | None) -> BaseException:
    """Half-done and not restored: the next run stops until it is resolved."""
    run = failure.run
    if failure.interrupted:
        failed = failure.migration
        failure.finish(
            Outcome.INTERRUPTED,
            runtime={
                **run.runtime,
                "needs_restore": True,
                "in_progress": f"{failed.app_label}.{failed.name}" if failed else "",
            },
        )
    else:
        failure.finish(Outcome.RESTORE_FAILED)
    if backup is None:
        why = run.backup_note.removeprefix("skipped: ") or "none was taken"
        advice = f"No backup of this run exists to restore ({why})."
    else:
        advice = (
            f"AUTO_RESTORE is '{conf.AUTO_RESTORE}', so the database was not "
            "restored. To go back to the state before the run: manage.py "
            f"rollback --run {run.pk} --strategy restore --database {run.alias}"
        )
    return RestoreFailed(
        f"{failure.reason} {failure.cause} Part of it may be applied. "
        f"{advice}{failure.earlier} Inspect the schema before running again."
    )


def _restored(failure: Failure, backup: Manifest, say: Say) -> BaseException:
    """Restore the pre-run backup; the error says whether that worked."""
    from migration_guard.run import markers

    alias, reason, cause = failure.alias, failure.reason, failure.cause
    say("MIGRATE_HEADING", "Restoring the backup taken before the run:")
    try:
        markers.restore_marked(alias, backup)
    except (BackupError, MigrationGuardError) as restore_error:
        failure.finish(
            Outcome.INTERRUPTED if failure.interrupted else Outcome.RESTORE_FAILED
        )
        return RestoreFailed(
            f"{reason} {cause} Restoring backup {backup.id} failed too: "
            f"{restore_error} The database may be half-migrated. Restore it with: "
            f"manage.py migrationbackups restore {backup.id} --database {alias}"
        )
    say("MIGRATE_LABEL", f"  {backup.id}... " + "OK")
    message = (
        f"{reason} {cause} The database was restored from backup {backup.id} "
        "to its state before the run."
    )
    # the restored ledger row is the one of before the backup was recorded
    kept = {"backup_id": backup.id, "backup_note": failure.run.backup_note}
    if failure.interrupted:
        failure.finish(
            Outcome.INTERRUPTED,
            runtime={**failure.run.runtime, "resolved": "restored"},
            **kept,
        )
        return _interrupted(failure.exc, message)
    failure.finish(Outcome.RESTORED, **kept)
    return MigrationFailed(message)


def _interrupted(exc: BaseException, message: str) -> BaseException:
    return RunInterrupted(
        message.replace("  ", " "), returncode=interrupts.exit_code_of(exc) or 130
    )


def reset_connection(alias: str) -> None:
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
