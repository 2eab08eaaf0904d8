"""The ledger's record of a run: :func:`migration_guard.run.ledger.recorded`.

Every command that records a run writes its row on entry (``running``) and its
end on leaving: the outcome the block gave, or ``failed`` with the error that
left it, or ``success`` / ``noop`` when it ended without saying.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest

from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import ledger
from tests.conftest import Database

pytestmark = pytest.mark.backends("sqlite")


def recorded(alias: str) -> AbstractContextManager[ledger.Recording]:
    return ledger.recorded(
        ledger.start_run(
            alias,
            command="test",
            direction="none",
            plan=[],
            applied_before=["app.0001"],
            argv=["manage.py", "test"],
        )
    )


def stored(recording: ledger.Recording) -> MigrationRun:
    return MigrationRun.objects.using(recording.run.alias).get(pk=recording.run.pk)


def test_the_row_is_running_inside_the_block(database: Database) -> None:
    with recorded(database.alias) as recording:
        row = stored(recording)
        assert (row.outcome, row.command, row.applied_before, row.argv) == (
            Outcome.RUNNING,
            "test",
            ["app.0001"],
            ["manage.py", "test"],
        )
        assert not recording.finished
    assert recording.finished


def test_a_block_that_ends_without_saying_is_noop_or_success(
    database: Database,
) -> None:
    with recorded(database.alias) as empty:
        pass
    assert (stored(empty).outcome, stored(empty).executed) == (Outcome.NOOP, [])
    done = ledger.entry("app", "0002_x", "applied", fake=False, seconds=0.5)
    with recorded(database.alias) as recording:
        recording.executed.append(done)
    row = stored(recording)
    assert (row.outcome, row.executed, row.error) == (
        Outcome.SUCCESS,
        [
            {
                "app": "app",
                "name": "0002_x",
                "action": "applied",
                "fake": False,
                "seconds": 0.5,
            }
        ],
        "",
    )
    assert row.finished_at is not None


def test_an_error_that_leaves_the_block_is_recorded_as_failed(
    database: Database,
) -> None:
    with pytest.raises(ValueError, match="boom"), recorded(database.alias) as recording:
        raise ValueError("boom")
    row = stored(recording)
    assert row.outcome == Outcome.FAILED
    assert row.error.splitlines()[-1] == "ValueError: boom"


def test_the_outcome_the_block_gave_is_kept(database: Database) -> None:
    with pytest.raises(KeyboardInterrupt), recorded(database.alias) as recording:
        recording.finish(Outcome.INTERRUPTED, error="stopped", backup_note="none")
        raise KeyboardInterrupt
    row = stored(recording)
    assert (row.outcome, row.error, row.backup_note) == (
        Outcome.INTERRUPTED,
        "stopped",
        "none",
    )
    with recorded(database.alias) as restored:
        restored.finish(Outcome.RESTORED)
    assert stored(restored).outcome == Outcome.RESTORED
    assert restored.warnings == []


def test_an_entry_leaves_fake_out_where_it_means_nothing() -> None:
    assert ledger.entry("app", "0002_x", "accepted", reason="edited") == {
        "app": "app",
        "name": "0002_x",
        "action": "accepted",
        "reason": "edited",
    }
    assert ledger.entry("app", "0002_x", "unapplied", fake=True) == {
        "app": "app",
        "name": "0002_x",
        "action": "unapplied",
        "fake": True,
    }
