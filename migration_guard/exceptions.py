"""Errors of migration_guard, one class per exit code of the design contract.

Plain exceptions: the library raises them, and the commands turn them into
output and an exit status in one place
(:meth:`migration_guard.management.base.MigrationGuardCommandMixin.execute`).
Each carries its exit code (``returncode``) and, when a recorded run ended
with it, that run's ledger row (``run``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from migration_guard.models import MigrationRun


class MigrationGuardError(Exception):
    """Base class: usage or configuration error; nothing was changed (exit 1)."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        *args: object,
        returncode: int | None = None,
        run: MigrationRun | None = None,
    ) -> None:
        super().__init__(*args)
        #: the exit status of the command this error ends
        self.returncode = self.exit_code if returncode is None else returncode
        #: the ledger row of the run this error ended, if one was recorded
        self.run = run


class UsageError(MigrationGuardError):
    """Bad input (unknown app, migration, alias...); nothing was changed."""

    exit_code = 1


class CheckFailed(MigrationGuardError):
    """``--check`` found pending migrations, drift or a failed gate."""

    exit_code = 2


class LockTimeout(MigrationGuardError):
    """Another run held the migration lock for longer than the lock timeout."""

    exit_code = 3


class VerificationRefused(MigrationGuardError):
    """A verification refused the action (fake, reconcile, restore checksum)."""

    exit_code = 4


class BackupFailed(MigrationGuardError):
    """The pre-migration backup failed, was empty or did not verify."""

    exit_code = 5


class MigrationFailed(MigrationGuardError):
    """A migration failed; the database is back in its state before the run."""

    exit_code = 6


class RestoreFailed(MigrationGuardError):
    """A migration failed and the database could not be restored."""

    exit_code = 7


class RestoreRequired(MigrationGuardError):
    """The rollback needs a restore but ``--strategy unapply`` was asked for."""

    exit_code = 8


class RecoveryRequired(RestoreFailed):
    """An interrupted run or restore left the database half-done (exit 7).

    Raised before anything is done; the message names the backup and the
    command that brings the database back.
    """


class RunInterrupted(MigrationGuardError):
    """SIGINT, SIGTERM or SIGHUP ended the run; the database is consistent.

    The exit status is ``128 + signal number``: 130 (SIGINT), 143 (SIGTERM),
    129 (SIGHUP), passed as ``returncode``.
    """

    exit_code = 130


EXIT_CODES: dict[int, type[MigrationGuardError]] = {
    cls.exit_code: cls
    for cls in (
        UsageError,
        CheckFailed,
        LockTimeout,
        VerificationRefused,
        BackupFailed,
        MigrationFailed,
        RestoreFailed,
        RestoreRequired,
    )
}
