"""Hostile tests of the recovery of a killed run on several databases."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests import backends
from tests.conftest import ROOT, Database
from tests.faults.test_group_kill import (
    BOTH,
    Group,
    applied,
    group_runs,
    prepared,
    runs,
)
from tests.test_multidb import pair, state, widgets  # noqa: F401 - the pair fixture

MARKER = "migration_guard_restore_in_progress"


def fill(db: Database, rows: int = 200000) -> None:
    """Rows enough that loading ``db``'s dump takes long enough to be cut."""
    db.connection.close()
    db.query("SET SESSION max_recursive_iterations = 1000000")
    db.query(
        "INSERT INTO scenario_widget (name) WITH RECURSIVE c(i) AS "
        f"(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) "
        "SELECT CONCAT('widget ', i) FROM c"
    )
    db.connection.close()


def kill_during_restore_of(group: Group, db: Database, *args: str) -> str:
    """Start ``args``; ``kill -9`` once the restore marker is on ``db``."""
    connections.close_all()
    child = subprocess.Popen(
        group.argv(*args),
        env=group.env(None, "auto"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    deadline = time.monotonic() + 120
    while True:
        db.connection.close()
        if MARKER in db.tables():
            break
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the restore never started"
        time.sleep(0.01)
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGKILL)
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, (out, err)
    return err


def test_a_member_left_half_restored_stops_the_group_recovery(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    """``rollback --run N`` of a killed group, itself killed while it loads
    ``other`` (MariaDB, not atomic): ``other`` holds part of its backup and a
    ledger from that backup. Neither ``guardedmigrate`` nor ``rollback --run
    N`` may read that ledger, restore ``default`` and call the group back:
    both refuse (exit 7) naming the restore to finish; after it, the group
    is recovered as one."""
    if pair[1].vendor != "mysql":
        pytest.skip("SQLite restores are atomic: nothing half-loaded to find")
    group = Group(pair, tmp_path)
    first = group.run("guardedmigrate", "scenario", "0001", *BOTH)
    assert first.returncode == 0, first.stderr
    fill(pair[1])
    before = [state(db) for db in pair]
    group.kill_on_other()
    a_run, _ = group_runs(pair)
    kill_during_restore_of(
        group, pair[1], "rollback", "--run", str(a_run), "--database", "default"
    )
    pair[1].connection.close()
    assert MARKER in pair[1].tables()
    (backup_id,) = pair[1].query(f"SELECT backup_id FROM {MARKER}")[0]
    left = state(pair[0])
    finish = f"manage.py migrationbackups restore {backup_id} --database other"

    for argv in (
        ("guardedmigrate", "scenario", *BOTH),
        ("rollback", "--run", str(a_run), "--database", "default"),
    ):
        refused = group.run(*argv, auto_restore="always")
        assert refused.returncode == 7, (argv, refused.stdout, refused.stderr)
        err = " ".join(refused.stderr.split())
        assert f"A restore of backup {backup_id} into database 'other'" in err, err
        assert finish in err, err
        assert state(pair[0]) == left  # default: not restored

    again = group.run("migrationbackups", "restore", backup_id, "--database", "other")
    assert again.returncode == 0, again.stderr
    undo = group.run("rollback", "--run", str(a_run), "--database", "default")
    assert undo.returncode == 0, undo.stderr
    assert [state(db) for db in pair] == before
    done = group.run("guardedmigrate", "scenario", *BOTH)
    assert done.returncode == 0, done.stderr
    assert [applied(db) for db in pair] == [["0001_initial", "0002_slow"]] * 2


def start(group: Group, *args: str, **env: str) -> subprocess.Popen[str]:
    connections.close_all()
    return subprocess.Popen(
        group.argv(*args),
        env=group.env(None, "auto", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )


def wait(child: subprocess.Popen[str], ready: Any) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_member_marked_resolved_is_left_as_the_operator_left_it(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    """``rollback --run N --mark-resolved`` on ``default`` records that it was
    dealt with by hand, without a restore: the recovery of the group leaves
    it so, and deals with the other database alone (restores it when it is
    half-migrated, MariaDB; nothing to do when it rolled back, SQLite)."""
    group, before = prepared(pair, tmp_path)
    a_run, b_run = group_runs(pair)
    killed = [state(db) for db in pair]
    marked = group.run(
        "rollback", "--run", str(a_run), "--mark-resolved", "--database", "default"
    )
    assert marked.returncode == 0, marked.stderr
    if pair[1].vendor == "mysql":
        refused = group.run("guardedmigrate", "scenario", *BOTH)
        assert refused.returncode == 7, refused.stderr
        err = " ".join(refused.stderr.split())
        assert (
            f"Database 'default' (run {a_run}): marked resolved without a restore "
            "by " in err
        ), err
        assert f"manage.py rollback --run {b_run} --database other" in err, err
        undo = group.run("rollback", "--run", str(b_run), "--database", "other")
        assert undo.returncode == 0, undo.stderr
        assert "Restoring database 'default'" not in undo.stdout, undo.stdout
        assert [state(db) for db in pair] == [killed[0], before[1]]
    (_, _, resolved) = next(r for r in runs(pair[0]) if r[0] == a_run)
    assert resolved.startswith("marked resolved without a restore by "), resolved
    done = group.run("guardedmigrate", "scenario", *BOTH)
    assert done.returncode == 0, done.stderr
    assert [applied(db) for db in pair] == [["0001_initial", "0002_slow"]] * 2
    assert widgets(pair[0]) == widgets_of(killed[0])


def widgets_of(found: tuple[Any, ...]) -> Any:
    return found[1]


def test_a_member_whose_ledger_lost_the_run_names_the_way_out(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    """``other``'s ledger row of the killed run is deleted: what the run left
    there is unknown, so nothing is restored (exit 7), and the message names
    what to do (every database of the run is configured: not that)."""
    group, _ = prepared(pair, tmp_path)
    a_run, b_run = group_runs(pair)
    killed = [state(db) for db in pair]
    pair[1].connection.close()
    pair[1].query(f"DELETE FROM migration_guard_migrationrun WHERE id = {b_run}")
    pair[1].connection.close()
    for argv in (
        ("guardedmigrate", "scenario", *BOTH),
        ("rollback", "--run", str(a_run), "--database", "default"),
    ):
        refused = group.run(*argv, auto_restore="always")
        assert refused.returncode == 7, (argv, refused.stderr)
        err = " ".join(refused.stderr.split())
        assert (
            f"Run {a_run} on database 'default' was one run on databases default, "
            "other, but the ledger of database 'other' has no run of it: its "
            "state is unknown, so no database of the run was restored. Nothing "
            "was done. Check every database of the run by hand and bring them "
            "to one state, then record it: manage.py rollback --run "
            f"{a_run} --mark-resolved --database default" in err
        ), err
        assert "Configure every database" not in err, err
        assert [state(db) for db in pair] == killed
    if pair[1].vendor == "mysql":  # by hand: MariaDB kept 0002's first column
        pair[1].query("ALTER TABLE scenario_widget DROP COLUMN color")
        pair[1].connection.close()
    marked = group.run(
        "rollback", "--run", str(a_run), "--mark-resolved", "--database", "default"
    )
    assert marked.returncode == 0, marked.stderr
    done = group.run("guardedmigrate", "scenario", *BOTH)
    assert done.returncode == 0, done.stderr


def test_three_databases_are_recovered_as_one(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A run on ``default``, ``other`` and ``third`` (SQLite), killed while
    ``other`` runs 0002: a run on two of them, ``AUTO_RESTORE`` 'always',
    refuses (it does not hold ``third``'s lock) and says why, without
    telling to set what is set; ``rollback --run N`` on ``third`` restores
    the two it changed; then the three are migrated together."""
    third = Database(
        "sqlite", str(tmp_path / "third.sqlite3"), "third", pair[0].backup_dir
    )
    backends.server("sqlite").create(third.name)
    group = Group((*pair, third), tmp_path)  # type: ignore[arg-type]
    every = (*BOTH, "--database", "third")
    first = group.run("guardedmigrate", "scenario", "0001", *every)
    assert first.returncode == 0, first.stderr
    before = [state(db) for db in pair]
    child = start(
        group, "guardedmigrate", "scenario", *every, FAULT_SLEEP="60",
        FAULT_SLEEP_ON="other", FAULT_STARTED=str(group.started),
    )  # fmt: skip
    wait(child, group.started.exists)
    time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)
    assert [applied(db) for db in pair] == [
        ["0001_initial", "0002_slow"],
        ["0001_initial"],
    ]
    (run_id,) = {row[0] for row in runs(pair[0])} - {1}
    killed = [state(db) for db in pair]

    two = group.run("guardedmigrate", "scenario", *BOTH, auto_restore="always")
    assert two.returncode == 7, two.stderr
    err = " ".join(two.stderr.split())
    assert (
        "AUTO_RESTORE is 'always', but this run does not hold the lock of "
        "database(s) third: run it on every database of the run." in err
    ), err
    assert f"Database 'third' (run {run_id}): interrupted after 0 of its 1" in err
    assert "set MIGRATION_GUARD['AUTO_RESTORE'] = 'always'" not in err, err
    assert [state(db) for db in pair] == killed

    undo = group.run("rollback", "--run", str(run_id), "--database", "third")
    assert undo.returncode == 0, undo.stderr
    assert [state(db) for db in pair] == before
    done = group.run("guardedmigrate", "scenario", *every)
    assert done.returncode == 0, done.stderr
    assert [applied(db) for db in pair] == [["0001_initial", "0002_slow"]] * 2


def test_a_group_restored_in_part_is_not_taken_for_consistent(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The group's restore brought ``other`` back and resolved its run, then
    stopped before ``default`` (its safety backup failed, say). ``default``
    holds the deploy, ``other`` not: the next run refuses, and the rollback
    restores ``default`` only."""
    from migration_guard.models import MigrationRun
    from migration_guard.run import recovery

    group, before = prepared(pair, tmp_path)
    a_run, b_run = group_runs(pair)
    killed = [state(db) for db in pair]
    pair[1].connection.close()
    backup_id = MigrationRun.objects.using("other").get(pk=b_run).backup_id
    restored = group.run(
        "migrationbackups", "restore", backup_id, "--database", "other"
    )
    assert restored.returncode == 0, restored.stderr
    # what the group's restore records on the database it brought back
    pair[1].connection.close()
    row = MigrationRun.objects.using("other").get(pk=b_run)
    row.runtime = {
        **row.runtime,
        "killed": True,
        "needs_restore": pair[1].vendor == "mysql",
    }
    recovery.resolve(row, f"restored from {backup_id} by run 3", "other")
    MigrationRun.objects.using("other").filter(pk=b_run).update(outcome="interrupted")
    pair[1].connection.close()
    assert [state(db) for db in pair] == [killed[0], before[1]]

    refused = group.run("guardedmigrate", "scenario", *BOTH)
    assert refused.returncode == 7, refused.stdout
    err = " ".join(refused.stderr.split())
    assert f"Database 'default' (run {a_run}): completed" in err, err
    assert f"manage.py rollback --run {a_run} --database default" in err, err
    undo = group.run("rollback", "--run", str(a_run), "--database", "default")
    assert undo.returncode == 0, undo.stderr
    assert "Restoring database 'other'" not in undo.stdout, undo.stdout
    assert [state(db) for db in pair] == before
