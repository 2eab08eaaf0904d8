"""``kill -9`` of a run on two databases, after the first one is migrated.

The run is a real ``manage.py guardedmigrate --database default --database
other`` killed while ``0002_slow`` sleeps on ``other`` (``FAULT_SLEEP_ON``):
``default`` holds the whole deploy, ``other`` part of it (MariaDB keeps the
first column: no DDL rollback) or none of it (SQLite rolls back). The next
run must treat the two as the one deploy they were: restore both, or refuse
and name the command that does, never keep one and bring back the other.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.db import connections

from tests.conftest import ROOT, TESTPROJECT, Database
from tests.test_multidb import pair, state, widgets  # noqa: F401 - the pair fixture

SLOW = {"scenario": "tests.faults.slow_scenario"}
BOTH = ("--database", "default", "--database", "other")


class Group:
    """``manage.py`` of both databases (or only some) and the slow scenario."""

    def __init__(self, dbs: tuple[Database, Database], tmp: Path) -> None:
        self.dbs = dbs
        self.tmp = tmp
        self.started = tmp / "statement-started"

    def settings(self, name: str, dbs: tuple[Database, ...], auto_restore: str) -> str:
        (self.tmp / f"{name}.py").write_text(
            "from tests.settings import *  # noqa\n"
            "DATABASES = {\n"
            + "".join(
                f"    {db.alias!r}: {db.server.settings(db.name)!r},\n" for db in dbs
            )
            + "}\n"
            f"MIGRATION_MODULES = {SLOW!r}\n"
            "MIGRATION_GUARD = {"
            f"'BACKUP_DIR': {str(self.dbs[0].backup_dir)!r}, "
            f"'AUTO_RESTORE': {auto_restore!r}}}\n"
        )
        return name

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(TESTPROJECT / "manage.py"), *args, "--noinput"]

    def env(
        self, only: tuple[Database, ...] | None, auto_restore: str, **extra: str
    ) -> dict[str, str]:
        module = self.settings(
            f"group_{auto_restore}_{len(only or self.dbs)}",
            only or self.dbs,
            auto_restore,
        )
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": module,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTPROJECT), str(self.tmp)]),
            **extra,
        }

    def run(
        self,
        *args: str,
        only: tuple[Database, ...] | None = None,
        auto_restore: str = "auto",
    ) -> subprocess.CompletedProcess[str]:
        connections.close_all()
        return subprocess.run(
            self.argv(*args),
            env=self.env(only, auto_restore),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(ROOT),
        )

    def kill_on_other(self) -> str:
        """The deploy on both, ``kill -9`` while ``other`` runs ``0002_slow``."""
        connections.close_all()
        child = subprocess.Popen(
            self.argv("guardedmigrate", "scenario", *BOTH),
            env=self.env(
                None,
                "auto",
                FAULT_SLEEP="60",
                FAULT_SLEEP_ON="other",
                FAULT_STARTED=str(self.started),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        deadline = time.monotonic() + 120
        while not self.started.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "0002_slow never started on other"
            time.sleep(0.02)
        time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, err
        return err


def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    db.connection.close()
    return db.query(sql)


def runs(db: Database) -> list[tuple[Any, ...]]:
    """The ledger rows of the killed deploy: id, outcome, resolved."""
    db.connection.close()
    from migration_guard.models import MigrationRun

    return [
        (run.pk, run.outcome, (run.runtime or {}).get("resolved", ""))
        for run in MigrationRun.objects.using(db.alias).order_by("id")
        if (run.runtime or {}).get("group") and run.command == "guardedmigrate"
    ]


def applied(db: Database) -> list[str]:
    db.connection.close()
    return [name for app, name in db.migration_rows() if app == "scenario"]


def prepared(pair: tuple[Database, Database], tmp: Path) -> tuple[Group, list[Any]]:  # noqa: F811
    """Both at 0001 with two widgets; killed mid-deploy; the pre-run states."""
    group = Group(pair, tmp)
    first = group.run("guardedmigrate", "scenario", "0001", *BOTH)
    assert first.returncode == 0, first.stderr
    for db in pair:
        db.connection.close()
        db.query("INSERT INTO scenario_widget (name) VALUES ('a'), ('b')")
        db.connection.close()
    before = [state(db) for db in pair]
    group.kill_on_other()
    assert applied(pair[0]) == ["0001_initial", "0002_slow"]
    assert applied(pair[1]) == ["0001_initial"]
    return group, before


def resolutions(pair: tuple[Database, Database], a_run: int, b_run: int) -> list[Any]:  # noqa: F811
    """(outcome, how it was resolved) of the killed run on each database."""
    found = []
    for db, pk in zip(pair, (a_run, b_run), strict=True):
        (_, outcome, resolved) = next(r for r in runs(db) if r[0] == pk)
        found.append((outcome, resolved.split(" by run ")[0].split(" ")[:2]))
    return found


def expected_resolutions(pair: tuple[Database, Database]) -> list[Any]:  # noqa: F811
    """MariaDB kept half of 0002 on ``other``: restored; SQLite rolled it back."""
    b = ["restored", "from"] if pair[1].vendor == "mysql" else ["not", "changed"]
    return [("interrupted", ["restored", "from"]), ("interrupted", b)]


def group_runs(pair: tuple[Database, Database]) -> tuple[int, int]:  # noqa: F811
    a, b = runs(pair[0]), runs(pair[1])
    assert len(a) == len(b) == 2  # the 0001 deploy, the killed one
    return a[-1][0], b[-1][0]


def test_the_next_run_refuses_and_names_the_command_that_undoes_both(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    group, before = prepared(pair, tmp_path)
    a_run, b_run = group_runs(pair)
    killed = [state(db) for db in pair]

    refused = group.run("guardedmigrate", "scenario", *BOTH)
    assert refused.returncode == 7, refused.stderr
    err = " ".join(refused.stderr.split())
    assert (
        f"Run {a_run} on database 'default' was one run on databases default, "
        "other, and its process was killed: the databases hold different parts "
        "of that deploy." in err
    ), err
    assert f"Database 'default' (run {a_run}): completed" in err, err
    assert f"Database 'other' (run {b_run}): interrupted" in err, err
    assert "pre-run backup " in err, err
    assert (
        f"Bring every database of the run back to its state before it with: "
        f"manage.py rollback --run {a_run} --database default" in err
    ), err
    assert "Nothing was changed on any database." in err, err
    assert [state(db) for db in pair] == killed  # refused: nothing restored
    assert [r[1:] for r in runs(pair[0])][-1] == ("interrupted", "")
    assert [r[1:] for r in runs(pair[1])][-1] == ("interrupted", "")

    # a run on one database of the group refuses the same way
    alone = group.run("guardedmigrate", "scenario", "--database", "other")
    assert alone.returncode == 7, alone.stderr
    err = " ".join(alone.stderr.split())
    assert f"Database 'default' (run {a_run}): completed" in err, err
    assert f"manage.py rollback --run {b_run} --database other" in err, err
    assert [state(db) for db in pair] == killed

    undo = group.run("rollback", "--run", str(a_run), "--database", "default")
    assert undo.returncode == 0, undo.stderr
    assert [state(db) for db in pair] == before
    assert resolutions(pair, a_run, b_run) == expected_resolutions(pair)

    done = group.run("guardedmigrate", "scenario", *BOTH)
    assert done.returncode == 0, done.stderr
    assert [applied(db) for db in pair] == [["0001_initial", "0002_slow"]] * 2


def test_auto_restore_always_restores_every_database_of_the_group(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    group, before = prepared(pair, tmp_path)
    a_run, b_run = group_runs(pair)

    again = group.run("guardedmigrate", "scenario", *BOTH, auto_restore="always")
    assert again.returncode == 0, again.stderr
    out = " ".join(again.stdout.split())
    assert f"Run {a_run} on database 'default' was one run on databases" in out, out
    restored = re.findall(r"Restoring database '(\w+)' from the pre-run backup", out)
    assert restored == (
        ["other", "default"] if pair[1].vendor == "mysql" else ["default"]
    ), out
    # both back before the run (the ledger below), then both migrated again
    assert [applied(db) for db in pair] == [["0001_initial", "0002_slow"]] * 2
    assert [widgets(db) for db in pair] == [
        [(*row, "red", None) for row in widgets_before]
        for _, widgets_before, _ in before
    ]
    assert resolutions(pair, a_run, b_run) == expected_resolutions(pair)


def test_a_member_missing_from_databases_refuses_and_restores_nothing(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    group, _ = prepared(pair, tmp_path)
    a_run, _ = group_runs(pair)
    killed = [state(db) for db in pair]

    refused = group.run(
        "guardedmigrate", "scenario", only=(pair[0],), auto_restore="always"
    )
    assert refused.returncode == 7, refused.stderr
    err = " ".join(refused.stderr.split())
    assert (
        f"Run {a_run} on database 'default' was one run on databases default, "
        "other, but database 'other' is not in settings.DATABASES: its state "
        "is unknown, so no database of the run was restored. Nothing was done." in err
    ), err
    assert [state(db) for db in pair] == killed
    assert re.search(r"manage\.py rollback --run \d+", err) is None, err


def test_a_plan_the_group_recovery_changed_says_what_was_restored(
    pair: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    """``guardedmigrate scenario 0001`` on both, ``AUTO_RESTORE`` 'always': the
    plan shown (unapply 0002 on ``default``) is the killed deploy's; under
    the locks the recovery restores both, which changes it. The run stops,
    and says the databases were restored, never that nothing was changed."""
    group, before = prepared(pair, tmp_path)
    back = group.run("guardedmigrate", "scenario", "0001", *BOTH, auto_restore="always")
    assert back.returncode == 1, back.stderr
    err = " ".join(back.stderr.split())
    assert (
        "The plan changed while the preview was shown: the database was restored "
        "from the pre-run backup of an interrupted run first (above); nothing else "
        "was done. Run the command again to see the plan from there. Nothing else "
        "was changed: the recovery of an interrupted run restored databases from "
        "their pre-run backups first (above)." in err
    ), err
    assert "Nothing was changed on any database" not in err, err
    assert [state(db) for db in pair] == before
