"""A small project (the ``slow_scenario`` app) run by real ``manage.py`` processes.

The fault tests start ``manage.py`` in a subprocess, wait for a point of its
work (a ``.partial`` backup file, the slow statement of ``0002_slow``, the
load of a restore), then send it a signal. The kill points are chosen by a
seeded random generator (``FAULT_SEED``, printed with every failure), so a
failure can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, TESTPROJECT, Database

SEED = int(os.environ.get("FAULT_SEED", "11"))
SETTINGS = """\
import os
from testproject.settings import *  # noqa: F403

INSTALLED_APPS = ["django.contrib.contenttypes", "migration_guard", "tests.scenarioapp"]
MIDDLEWARE = []
ROOT_URLCONF = "tests.faults.urls"
MIGRATION_MODULES = {"scenario": "tests.faults.slow_scenario"}
MIGRATION_GUARD = {
    "BACKUP_DIR": os.environ["MIGRATION_GUARD_BACKUP_DIR"],
    "AUTO_RESTORE": os.environ.get("FAULT_AUTO_RESTORE", "auto"),
}
"""
#: rows in the widget table, so dumps and loads take long enough to be cut
ROWS = 60000
WAIT = 60.0


class Project:
    """``manage.py`` of the fault settings against one test database."""

    def __init__(self, database: Database, tmp: Path) -> None:
        self.database = database
        self.tmp = tmp
        self.started = tmp / "statement-started"
        self.private_tmp = tmp / "tmp"  # TMPDIR of the processes: must stay empty
        self.private_tmp.mkdir()
        (tmp / "fault_settings.py").write_text(SETTINGS)
        self.env = database.env(
            DJANGO_SETTINGS_MODULE="fault_settings",
            PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT), str(TESTPROJECT)]),
            PYTHONDONTWRITEBYTECODE="1",
            TMPDIR=str(self.private_tmp),
            FAULT_STARTED=str(self.started),
        )
        self.rng = random.Random(SEED)

    @property
    def backup_dir(self) -> Path:
        assert self.database.backup_dir is not None
        return self.database.backup_dir

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(TESTPROJECT / "manage.py"), *args, "--noinput"]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(ROOT),
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        self.started.unlink(missing_ok=True)
        return subprocess.Popen(
            self.argv(*args),
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )

    def wait_for(self, child: subprocess.Popen[str], ready: Callable[[], bool]) -> bool:
        """Wait until ``ready()`` (True) or the child ended (False)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if ready():
                return True
            if child.poll() is not None:
                return False
            time.sleep(0.01)
        raise AssertionError(f"nothing happened in {WAIT}s (FAULT_SEED={SEED})")

    def manifests(self) -> list[Path]:
        return sorted(self.backup_dir.glob("*.json"))

    def partials(self) -> list[Path]:
        return sorted(self.backup_dir.glob(".*.partial"))

    def kill(
        self, child: subprocess.Popen[str], signum: int, ready: Callable[[], bool]
    ) -> tuple[bool, str]:
        """At ``ready`` and a random moment after it, send ``signum``.

        Returns whether the signal was sent before the child ended, and the
        child's stderr.
        """
        hit = self.wait_for(child, ready)
        if hit:
            time.sleep(self.rng.uniform(0, 0.2))
            if child.poll() is None:
                os.kill(child.pid, signum)
            else:
                hit = False
        _, err = child.communicate(timeout=300)
        if child.returncode == 0:  # it finished before the signal landed
            hit = False
        return hit, err

    # -- what must be true after any fault --------------------------------

    def leftovers(self) -> list[str]:
        """Children, credentials files and partial backups left behind."""
        found = [str(path) for path in self.partials()]
        found += [str(path) for path in self.private_tmp.iterdir()]
        # the kernel kills them when their parent dies; they may take a moment
        deadline = time.monotonic() + 10
        while children_of(self.database) and time.monotonic() < deadline:
            time.sleep(0.05)
        found += [f"process {pid}: {cmd}" for pid, cmd in children_of(self.database)]
        return found

    def columns(self) -> list[str]:
        connection = self.database.connection
        with connection.cursor() as cursor:
            return [
                column.name
                for column in connection.introspection.get_table_description(
                    cursor, "scenario_widget"
                )
            ]

    def state(self) -> str:
        """``pre`` (0001), ``post`` (0002) or what else the database holds."""
        self.database.connection.close()
        if "scenario_widget" not in self.database.tables():
            return "empty"
        applied = [
            name for app, name in self.database.migration_rows() if app == "scenario"
        ]
        columns = self.columns()
        if applied == ["0001_initial"] and columns == ["id", "name"]:
            return "pre"
        if applied == ["0001_initial", "0002_slow"] and columns == [
            "id",
            "name",
            "color",
            "weight",
        ]:
            return "post"
        return f"neither: applied {applied}, columns {columns}"

    def rows(self) -> int:
        return int(self.database.query("SELECT COUNT(*) FROM scenario_widget")[0][0])

    def fill(self) -> None:
        """``ROWS`` widgets, written in one statement."""
        vendor = self.database.vendor
        if vendor == "postgresql":
            sql = (
                "INSERT INTO scenario_widget (name) SELECT 'widget ' || i "
                f"FROM generate_series(1, {ROWS}) AS i"
            )
        else:
            sql = (
                "INSERT INTO scenario_widget (name) WITH RECURSIVE c(i) AS "
                f"(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {ROWS}) "
                "SELECT CONCAT('widget ', i) FROM c"
                if vendor == "mysql"
                else "INSERT INTO scenario_widget (name) WITH RECURSIVE c(i) AS "
                f"(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {ROWS}) "
                "SELECT 'widget ' || i FROM c"
            )
        if vendor == "mysql":
            self.database.query("SET SESSION max_recursive_iterations = 1000000")
        self.database.query(sql)
        self.database.connection.close()


def children_of(database: Database) -> list[tuple[int, str]]:
    """Processes (other than this one) whose command line names the database."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if database.name in cmdline and not cmdline.startswith("postgres:"):
            found.append((int(entry.name), cmdline))
    return found


def last_run(database: Database) -> tuple[Any, ...]:
    database.connection.close()
    return database.query(
        "SELECT id, outcome, command FROM migration_guard_migrationrun "
        "ORDER BY id DESC LIMIT 1"
    )[0]


@pytest.fixture
def project(database: Database, tmp_path: Path) -> Project:
    """The database at ``0001`` with ``ROWS`` widgets."""
    made = Project(database, tmp_path)
    result = made.run("guardedmigrate", "scenario", "0001")
    assert result.returncode == 0, result.stderr
    made.fill()
    return made


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
