"""Fault injection: signals and ``kill -9`` at points of a deploy, backup, restore.

After each fault the database is at its state before the run (``pre``), after
it (``post``), or brought back by the one documented command; no ``.partial``
file, no credentials file and no child process is left; the next run succeeds.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.faults.conftest import ROWS, SEED, SIGNALS, Project, last_run


def recover(project: Project, first: str, rows: int = ROWS) -> None:
    """What an operator does after a crash: the next run, or the command it names."""
    result = project.run("guardedmigrate")
    if result.returncode == 7:
        found = re.search(
            r"manage\.py (rollback --run \d+ --strategy restore --database default)",
            result.stderr,
        )
        assert found is not None, result.stderr
        undo = project.run(*found.group(1).split())
        assert undo.returncode == 0, undo.stderr
        assert project.state() in ("pre", "empty")
        result = project.run("guardedmigrate")
    assert result.returncode == 0, f"{first}\n{result.stderr} (FAULT_SEED={SEED})"
    assert project.state() == "post"
    assert project.rows() == rows


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_signal_mid_statement_ends_the_run_cleanly(
    project: Project, database: Database, name: str
) -> None:
    child = project.start("guardedmigrate", FAULT_SLEEP="30")
    hit, err = project.kill(child, SIGNALS[name], project.started.exists)
    assert hit, err
    assert child.returncode == 128 + SIGNALS[name], err
    assert f"was interrupted by {name} (run " in err, err
    if database.vendor == "mysql":
        assert "The database was restored from backup" in err
    assert project.state() == "pre"
    assert project.rows() == ROWS
    assert last_run(database)[1] == "interrupted"
    assert project.leftovers() == []
    recover(project, err)


@pytest.mark.parametrize("phase", ["backup", "statement"])
def test_kill_9_during_a_deploy(
    project: Project, database: Database, phase: str
) -> None:
    ready = project.started.exists if phase == "statement" else project.partials
    child = project.start("guardedmigrate", FAULT_SLEEP="1")
    hit, err = project.kill(child, signal.SIGKILL, lambda: bool(ready()))
    killed = last_run(database)
    assert project.leftovers() in ([], [str(p) for p in project.partials()])
    if hit:
        assert child.returncode == -signal.SIGKILL
        assert killed[1] == "running"
    recover(project, err)
    assert project.leftovers() == []
    if hit:
        outcome = database.query(
            "SELECT outcome FROM migration_guard_migrationrun WHERE id = %s",
            [killed[0]],
        )
        assert outcome == [("interrupted",)]


def test_kill_9_during_a_deploy_from_empty(database: Database, tmp_path: Path) -> None:
    """Issue 11 item 4: on MariaDB every later run failed with 1050 (exit 6)."""
    project = Project(database, tmp_path)
    child = project.start("guardedmigrate", FAULT_SLEEP="5")
    hit, err = project.kill(child, signal.SIGKILL, project.started.exists)
    assert hit, err
    assert child.returncode == -signal.SIGKILL
    assert last_run(database)[1] == "running"
    result = project.run("guardedmigrate")
    if database.vendor == "mysql":  # scenario.0002_slow's first column stayed
        assert result.returncode == 7, result.stderr
        assert "RecoveryRequired: Run 1 on database 'default' was interrupted " in (
            result.stderr
        )
    else:  # rolled back by the database: the run goes on
        assert result.returncode == 0, result.stderr
    recover(project, err, rows=0)
    assert project.leftovers() == []


def test_kill_9_during_a_backup(project: Project, database: Database) -> None:
    child = project.start("migrationbackups", "create")
    hit, err = project.kill(child, signal.SIGKILL, lambda: bool(project.partials()))
    if hit:
        assert child.returncode == -signal.SIGKILL
    assert project.leftovers() in ([], [str(p) for p in project.partials()])
    # the next backup removes what the killed one left
    result = project.run("migrationbackups", "create")
    assert result.returncode == 0, result.stderr
    assert project.leftovers() == []
    recover(project, err)


def test_kill_9_during_a_restore(project: Project, database: Database) -> None:
    created = project.run("migrationbackups", "create", "--format", "json")
    assert created.returncode == 0, created.stderr
    backup_id = created.stdout.split('"id": "', 1)[1].split('"', 1)[0]
    assert project.run("guardedmigrate", FAULT_SLEEP="0").returncode == 0
    manifests = len(project.manifests())
    child = project.start("migrationbackups", "restore", backup_id)
    # the safety backup is written: the restore starts
    hit, err = project.kill(
        child, signal.SIGKILL, lambda: len(project.manifests()) > manifests
    )
    if hit:
        assert child.returncode == -signal.SIGKILL
    assert project.leftovers() == []
    result = project.run("guardedmigrate")
    assert result.returncode in (0, 7), result.stderr
    if result.returncode == 7:  # MariaDB: the load is not atomic; PostgreSQL:
        # the objects the backup does not know were dropped before the load
        assert database.vendor in ("mysql", "postgresql")
        assert f"migrationbackups restore {backup_id} --database default" in (
            result.stderr
        )
        again = project.run("migrationbackups", "restore", backup_id)
        assert again.returncode == 0, again.stderr
        assert project.state() == "pre"
    recover(project, err)
