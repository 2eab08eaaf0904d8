"""Faults with a plan-scoped backup (issue 16 item 1).

The ``scoped_scenario`` plan ``0001 -> 0003`` alters ``scenario_gadget``
only; its pre-run backup holds that table and migration_guard's own, not
the big ``scenario_widget`` nor ``scenario_tag`` (whose foreign key points
into the scope). A failure mid-plan is restored from the scoped backup: the
scope's tables exactly as they were, the rows written meanwhile to the other
tables still there. A ``kill -9`` during a scoped restore leaves the restore
marker: the next run refuses the database, and the restore run again brings
it back exactly.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Database
from tests.faults.conftest import ROWS, SEED, SETTINGS, Project, last_run
from tests.schema import logical_dump

SCOPED_SETTINGS = SETTINGS.replace(
    "tests.faults.slow_scenario", "tests.faults.scoped_scenario"
).replace(
    '"AUTO_RESTORE"',
    '"BACKUP_SCOPE": "plan",\n    "AUTO_RESTORE"',
)
#: the tables of the plan that exist before it: what its backup holds
SCOPE_TABLES = [
    "django_content_type",
    "django_migrations",
    "migration_guard_migrationrun",
    "scenario_gadget",
]
LEDGER = "migration_guard_migrationrun"
#: a row written to an outside table while the plan runs
WRITTEN = "written during the run"


@pytest.fixture
def scoped(database: Database, tmp_path: Path) -> Project:
    """The database at ``0001``: ``ROWS`` widgets and gadgets, 3 tags.

    The content types and migration_guard are migrated first: their
    migrations run code that declares no tables, which would make a plan
    holding them unbounded.
    """
    made = Project(database, tmp_path)
    (tmp_path / "fault_settings.py").write_text(SCOPED_SETTINGS)
    for target in (["contenttypes"], ["migration_guard"], ["scenario", "0001"]):
        result = made.run("guardedmigrate", *target)
        assert result.returncode == 0, result.stderr
    made.fill()
    database.query(
        "INSERT INTO scenario_gadget (name, size) SELECT name, id FROM scenario_widget"
    )
    database.query(
        "INSERT INTO scenario_tag (label, gadget_id) VALUES ('a', 1), ('b', 2), "
        "('c', 3)"
    )
    database.connection.close()
    return made


def pre_state(database: Database) -> dict[str, Any]:
    """Schema and rows, but the ledger's (which every run writes)."""
    database.connection.close()
    dump = logical_dump(database.connection)
    dump["rows"].pop(LEDGER, None)
    return dump


def scoped_backup(project: Project) -> dict[str, Any]:
    """The manifest of the last run's pre-migrate backup, as stored."""
    found = [json.loads(path.read_text()) for path in project.manifests()]
    runs = [m for m in found if m["reason"] == "pre-migrate"]
    return max(runs, key=lambda m: int(m["run_id"]))


def with_written(state: dict[str, Any], database: Database) -> dict[str, Any]:
    """``state`` plus the row written to ``scenario_widget`` during the run."""
    if database.vendor == "sqlite":  # the run holds the write lock: none was
        return state
    (row,) = database.query(
        "SELECT id, name FROM scenario_widget WHERE name = %s", [WRITTEN]
    )
    widgets = sorted([*state["rows"]["scenario_widget"], row], key=repr)
    return {**state, "rows": {**state["rows"], "scenario_widget": widgets}}


def write_outside(database: Database) -> None:
    """While the slow statement runs: a widget, outside the plan's scope."""
    if database.vendor != "sqlite":
        database.query("INSERT INTO scenario_widget (name) VALUES (%s)", [WRITTEN])
        database.connection.close()


def rollback_command(stderr: str) -> list[str]:
    found = re.search(
        r"manage\.py (rollback --run \d+ --strategy restore --database default)",
        stderr,
    )
    assert found is not None, stderr
    return found.group(1).split()


@pytest.mark.parametrize("fault", ["error", "SIGTERM"])
def test_a_failure_mid_plan_is_restored_from_the_scoped_backup(
    scoped: Project, database: Database, fault: str
) -> None:
    """AUTO_RESTORE 'always': a migration of the run was applied, so every
    backend restores (on MariaDB the failed one is half-done too)."""
    before = pre_state(database)
    env = {"FAULT_SLEEP": "2", "FAULT_AUTO_RESTORE": "always"}
    if fault == "error":
        env["FAULT_FAIL"] = "1"
    child = scoped.start("guardedmigrate", **env)
    assert scoped.wait_for(child, scoped.started.exists), child.communicate()
    write_outside(database)
    if fault == "error":
        _, err = child.communicate(timeout=300)
        assert child.returncode == 6, err
    else:
        hit, err = scoped.kill(child, signal.SIGTERM, lambda: True)
        assert hit, err
        assert child.returncode == 128 + signal.SIGTERM, err
    manifest = scoped_backup(scoped)
    assert manifest["scope_tables"] == SCOPE_TABLES, (err, manifest["scope"])
    assert f"The database was restored from backup {manifest['id']}" in err, err
    assert pre_state(database) == with_written(before, database), f"FAULT_SEED={SEED}"
    assert scoped.leftovers() == []
    finish(scoped, database)


@pytest.mark.backends("mysql")
def test_kill_9_mid_plan_is_restored_from_the_scoped_backup(
    scoped: Project, database: Database
) -> None:
    """MariaDB keeps the DDL done before the kill: the next run refuses the
    database and names the rollback, which restores the scoped backup."""
    before = pre_state(database)
    child = scoped.start("guardedmigrate", FAULT_SLEEP="2")
    assert scoped.wait_for(child, scoped.started.exists), child.communicate()
    write_outside(database)
    hit, err = scoped.kill(child, signal.SIGKILL, lambda: True)
    assert hit and child.returncode == -signal.SIGKILL, err
    assert last_run(database)[1] == "running"
    manifest = scoped_backup(scoped)
    assert manifest["scope_tables"] == SCOPE_TABLES
    result = scoped.run("guardedmigrate")
    assert result.returncode == 7, result.stderr
    undo = scoped.run(*rollback_command(result.stderr))
    assert undo.returncode == 0, f"{undo.stderr} (FAULT_SEED={SEED})"
    assert pre_state(database) == with_written(before, database), f"FAULT_SEED={SEED}"
    assert scoped.leftovers() == []
    finish(scoped, database)


@pytest.mark.backends("mysql")
def test_kill_9_during_a_scoped_restore(scoped: Project, database: Database) -> None:
    """Killed after its marker was set, the restore leaves a database every
    run refuses; the restore run again brings it back exactly."""
    before = pre_state(database)
    done = scoped.run("guardedmigrate", "scenario", "0002")
    assert done.returncode == 0, done.stderr
    backup_id = scoped_backup(scoped)["id"]
    write_outside(database)
    database.query("UPDATE scenario_gadget SET size = -1")  # undone by the restore
    database.connection.close()
    manifests = len(scoped.manifests())
    child = scoped.start("migrationbackups", "restore", backup_id)
    # the safety backup is written: the restore starts
    hit, err = scoped.kill(
        child, signal.SIGKILL, lambda: len(scoped.manifests()) > manifests
    )
    assert scoped.leftovers() == []
    marked = "migration_guard_restore_in_progress" in database.tables()
    result = scoped.run("guardedmigrate", "scenario", "0002")
    if marked:
        assert hit and child.returncode == -signal.SIGKILL, err
        assert result.returncode == 7, result.stderr
        assert f"migrationbackups restore {backup_id} --database default" in (
            result.stderr
        )
    else:  # finished, or killed before the marker: the run goes on
        assert result.returncode == 0, result.stderr
    again = scoped.run("migrationbackups", "restore", backup_id)
    assert again.returncode == 0, again.stderr
    assert pre_state(database) == with_written(before, database), (
        f"hit={hit} marked={marked} FAULT_SEED={SEED}\n{err}"
    )
    assert scoped.leftovers() == []


def finish(project: Project, database: Database) -> None:
    """The next run applies the whole plan; the written widget is there."""
    result = project.run("guardedmigrate")
    assert result.returncode == 0, result.stderr
    assert project.rows() == ROWS + (database.vendor != "sqlite")


@pytest.mark.backends("mysql")
def test_kill_9_during_a_full_restore_refuses_a_scoped_one(
    scoped: Project, database: Database
) -> None:
    """A full restore killed mid-load: the scoped backup of a later plan does
    not cover what it was loading, so its restore is refused (exit 7, nothing
    done, no safety backup) and names the full one, whose restore brings the
    database back."""
    done = scoped.run("guardedmigrate", "scenario", "0002")
    assert done.returncode == 0, done.stderr
    narrow = scoped_backup(scoped)["id"]
    created = scoped.run("migrationbackups", "create")
    assert created.returncode == 0, created.stderr
    full = re.search(r"Backup id: (\S+)", created.stdout)
    assert full is not None, created.stdout
    before = pre_state(database)
    database.query("UPDATE scenario_widget SET name = 'changed'")
    database.connection.close()
    manifests = len(scoped.manifests())
    child = scoped.start("migrationbackups", "restore", full.group(1))
    hit, err = scoped.kill(
        child, signal.SIGKILL, lambda: len(scoped.manifests()) > manifests
    )
    assert scoped.leftovers() == []
    if "migration_guard_restore_in_progress" in database.tables():
        assert hit and child.returncode == -signal.SIGKILL, err
        half = pre_state(database)
        stored = len(scoped.manifests())
        refused = scoped.run("migrationbackups", "restore", narrow)
        assert refused.returncode == 7, refused.stderr
        assert (
            f"A restore of backup {full.group(1)} into database 'default'"
            in refused.stderr
        )
        assert (
            f"the restore of {full.group(1)} was writing the whole database"
            in refused.stderr
        )
        assert pre_state(database) == half
        assert len(scoped.manifests()) == stored
        assert "migration_guard_restore_in_progress" in database.tables()
    again = scoped.run("migrationbackups", "restore", full.group(1))
    assert again.returncode == 0, again.stderr
    assert pre_state(database) == before, f"hit={hit} FAULT_SEED={SEED}\n{err}"
    assert scoped.leftovers() == []


RECEIVER_SETTINGS = """\
from fault_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.faults.receiverapp"]  # noqa: F405
"""


def test_a_receiver_connected_by_a_management_package_is_seen_by_the_scope(
    scoped: Project, database: Database, tmp_path: Path
) -> None:
    """``receiverapp`` connects its receiver in its ``management`` package,
    which ``migrate`` imports after the pre-run backup was taken. In a fresh
    process the receiver must be known all the same: unknown, it makes the
    backup full, or the row it renames is not in the backup."""
    (tmp_path / "receiver_settings.py").write_text(RECEIVER_SETTINGS)
    before = pre_state(database)
    done = scoped.run(
        "guardedmigrate", "scenario", "0002", DJANGO_SETTINGS_MODULE="receiver_settings"
    )
    assert done.returncode == 0, done.stderr
    assert database.query("SELECT name FROM scenario_widget WHERE id = 1") == [
        ("renamed",)
    ]
    manifest = scoped_backup(scoped)
    assert manifest["scope"] == [], manifest["scope"]
    assert (
        "A backup of the whole database: the post_migrate receiver "
        "tests.faults.receiverapp.management.rename_first_widget may write any table"
    ) in done.stdout + done.stderr
    restored = scoped.run("migrationbackups", "restore", manifest["id"])
    assert restored.returncode == 0, restored.stderr
    assert pre_state(database) == before
