"""Errors: plain exceptions in the library, a ``CommandError`` out of a command.

The library raises :mod:`migration_guard.exceptions`; the commands turn them
into an exit status and output in one place (``management/base.py``).
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from migration_guard.exceptions import (
    EXIT_CODES,
    MigrationFailed,
    MigrationGuardError,
    RecoveryRequired,
    RestoreFailed,
    RunInterrupted,
    UsageError,
)
from migration_guard.management.base import as_command_error, exit_status
from migration_guard.models import MigrationRun

pytestmark = pytest.mark.backends("sqlite")


def test_the_library_errors_are_plain_exceptions_with_their_exit_code() -> None:
    assert not issubclass(MigrationGuardError, CommandError)
    assert {code: cls.__name__ for code, cls in EXIT_CODES.items()} == {
        1: "UsageError",
        2: "CheckFailed",
        3: "LockTimeout",
        4: "VerificationRefused",
        5: "BackupFailed",
        6: "MigrationFailed",
        7: "RestoreFailed",
        8: "RestoreRequired",
    }
    assert [cls().returncode for cls in EXIT_CODES.values()] == list(EXIT_CODES)
    assert RecoveryRequired("x").returncode == 7
    assert RunInterrupted("x", returncode=143).returncode == 143
    assert MigrationFailed("x").run is None


def test_exit_status_of_any_error() -> None:
    assert exit_status(MigrationFailed("boom")) == 6
    assert exit_status(RunInterrupted("x", returncode=129)) == 129
    assert exit_status(CommandError("x", returncode=3)) == 3
    assert exit_status(ValueError("crash")) == 1


def test_as_command_error_keeps_class_message_code_and_run() -> None:
    run = MigrationRun(pk=12)
    original = RestoreFailed("half-done", run=run)
    error = as_command_error(original)
    assert isinstance(error, CommandError)
    assert isinstance(error, RestoreFailed)
    assert isinstance(error, MigrationGuardError)
    assert (type(error).__name__, str(error), error.returncode, error.run) == (
        "RestoreFailed",
        "half-done",
        7,
        run,
    )
    assert type(as_command_error(RestoreFailed("again"))) is type(error)
    interrupted = as_command_error(RunInterrupted("x", returncode=143))
    assert (type(interrupted).__name__, interrupted.returncode) == (
        "RunInterrupted",
        143,
    )


def test_a_command_raises_the_domain_error_as_a_command_error() -> None:
    with pytest.raises(UsageError) as caught:
        call_command("rollback", stdout=io.StringIO())
    assert isinstance(caught.value, CommandError)
    assert (str(caught.value), caught.value.returncode) == (
        "Say which run to undo: --last or --run ID.",
        1,
    )


def test_one_json_document_for_an_error() -> None:
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("rollback", format="json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "outcome": "error",
        "exit_code": 1,
        "error": "UsageError",
        "message": "Say which run to undo: --last or --run ID.",
    }
