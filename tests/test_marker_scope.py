"""While a restore marker names backup X, only a restore that writes at least
everything X's restore was writing may replace it.

The state of an interrupted restore is planted by hand, as a kill -9 leaves
it (see tests/test_restore_marker.py): the marker naming X, and tables that
X's load had emptied. A plan-scoped backup Y that does not cover X's tables
must be refused before anything (exit 7, marker kept, no safety backup):
otherwise its restore would replace the marker and the tables outside its
scope would stay half-loaded under a database that looks whole.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.backup import catalog, guarded
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.exceptions import RecoveryRequired
from migration_guard.run import markers
from tests.conftest import Database
from tests.schema import logical_dump

LEDGER = "migration_guard_migrationrun"
MARKER = markers.MARKER_TABLE
UNKNOWN = "default-20200101T000000000000"


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def backup(tables: list[str] | None = None) -> Manifest:
    """A manual backup: of ``tables`` (plan-scoped) or of the whole database."""
    return catalog.create_backup(
        "default",
        reason="manual",
        tables=tables,
        applied_before=guarded.applied_now("default"),
    )


def state(database: Database) -> dict[str, Any]:
    """The database without the ledger's rows (each restore records itself):
    their count is ``runs``."""
    database.connection.close()
    dump = logical_dump(database.connection)
    dump["runs"] = len(dump["rows"].pop(LEDGER, []))
    return dump


def content(database: Database) -> dict[str, Any]:
    """Schema and rows, without the ledger."""
    dump = state(database)
    del dump["runs"]
    return dump


def interrupted(database: Database, backup_id: str, *emptied: str) -> dict[str, Any]:
    """The restore of ``backup_id`` killed half-way: the marker names it,
    ``emptied`` tables were recreated and not loaded yet. The marker as read."""
    markers.set_marker("default", backup_id)
    for table in emptied:
        database.query(f"DELETE FROM {table}")
    marker = markers.unfinished_restore("default")
    assert marker is not None
    return marker


def head(marker: dict[str, Any]) -> str:
    return (
        f"A restore of backup {marker['backup_id']} into database 'default', "
        f"started {marker['started_at']}, did not finish: the database holds only "
        "part of that backup."
    )


def refused_restore(backup_id: str) -> str:
    with pytest.raises(RecoveryRequired) as caught:
        run("migrationbackups", "restore", backup_id, interactive=False)
    assert caught.value.returncode == 7
    return str(caught.value)


def assert_untouched(
    database: Database, before: dict[str, Any], marker: dict[str, Any], stored: set[str]
) -> None:
    """Nothing changed: rows, schema, the marker itself, no safety backup,
    no run in the ledger."""
    assert state(database) == before
    assert database.query(f"SELECT COUNT(*) FROM {LEDGER}") == [(before["runs"],)]
    assert markers.unfinished_restore("default") == marker
    assert {m.id for m in get_store().manifests()} == stored


# -- MariaDB: every restore is marked ----------------------------------------


@pytest.fixture
def scopemy(database: Database, settings: Any) -> Database:
    """``scenario.0001`` of ``scopemy``: items, a note about one, big rows."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.scopemy"}
    run("guardedmigrate", "scenario", "0001", no_backup=True, verbosity=0)
    database.query("INSERT INTO scenario_big (label) VALUES ('b1'), ('b2'), ('b3')")
    database.query("INSERT INTO scenario_item (name, qty) VALUES ('a', 1), ('b', 2)")
    database.query("INSERT INTO scenario_note (text, item_id) VALUES ('n', 1)")
    return database


@pytest.mark.backends("mysql")
def test_a_scoped_restore_over_an_unfinished_full_restore_is_refused(
    scopemy: Database,
) -> None:
    scoped = backup(["scenario_item"])
    full = backup()
    marker = interrupted(scopemy, full.id, "scenario_big", "scenario_note")
    before, stored = state(scopemy), {m.id for m in get_store().manifests()}
    message = refused_restore(scoped.id)
    assert message == (
        f"{head(marker)} Backup {scoped.id} holds only the plan's 1 table: "
        f"scenario_item, and the restore of {full.id} was writing the whole "
        "database: restoring it would leave the rest as that restore left it, and "
        "clear the marker of a database that is still half-loaded. Nothing was "
        f"done. Restore {full.id} again first: manage.py migrationbackups restore "
        f"{full.id} --database default (or restore another full backup of this "
        f"database); then {scoped.id}, if it is still wanted."
    )
    assert_untouched(scopemy, before, marker, stored)
    # the restore of the automatic paths (failed run, several databases) too
    with pytest.raises(RecoveryRequired) as caught:
        markers.restore_marked("default", scoped)
    assert str(caught.value) == message
    assert_untouched(scopemy, before, marker, stored)


@pytest.mark.backends("mysql")
def test_a_restore_killed_after_the_checks_is_seen_under_the_lock(
    scopemy: Database,
) -> None:
    """The marker appeared between ``guarded.check`` and the lock: the guarded
    restore refuses before its safety backup."""
    scoped = backup(["scenario_item"])
    full = backup()
    guarded.check(scoped, "default", get_store())
    marker = interrupted(scopemy, full.id, "scenario_big")
    before, stored = state(scopemy), {m.id for m in get_store().manifests()}
    with pytest.raises(RecoveryRequired) as caught:
        guarded.restore(
            "default", scoped, store=get_store(), lock_timeout=5,
            command="migrationbackups restore", argv=[],
            say=lambda style, text: None, progress=lambda label: None,
        )  # fmt: skip
    assert str(caught.value).startswith(f"{head(marker)} Backup {scoped.id} ")
    assert_untouched(scopemy, before, marker, stored)


@pytest.mark.backends("mysql")
def test_rollback_by_a_scoped_pre_run_backup_is_refused_too(
    scopemy: Database,
) -> None:
    run("guardedmigrate", "scenario", "0002", backup_scope="plan", verbosity=0)
    (scoped,) = [m for m in get_store().manifests() if m.reason == "pre-migrate"]
    assert scoped.scope
    full = backup()
    marker = interrupted(scopemy, full.id, "scenario_big")
    before, stored = state(scopemy), {m.id for m in get_store().manifests()}
    with pytest.raises(RecoveryRequired) as caught:
        run("rollback", "--last", strategy="restore", interactive=False)
    assert caught.value.returncode == 7
    assert str(caught.value).startswith(
        f"{head(marker)} Backup {scoped.id} holds only the plan's "
    )
    assert f"Restore {full.id} again first" in str(caught.value)
    assert_untouched(scopemy, before, marker, stored)


@pytest.mark.backends("mysql")
def test_restoring_the_unfinished_backup_again_clears_the_marker(
    scopemy: Database,
) -> None:
    whole = content(scopemy)
    full = backup()
    interrupted(scopemy, full.id, "scenario_big", "scenario_note")
    run("migrationbackups", "restore", full.id, interactive=False)
    assert markers.unfinished_restore("default") is None
    assert content(scopemy) == whole


@pytest.mark.backends("mysql")
def test_another_full_backup_replaces_an_unfinished_scoped_restore(
    scopemy: Database,
) -> None:
    whole = content(scopemy)
    full = backup()
    scoped = backup(["scenario_item", "scenario_note"])
    interrupted(scopemy, scoped.id, "scenario_note")
    run("migrationbackups", "restore", full.id, interactive=False)
    assert markers.unfinished_restore("default") is None
    assert content(scopemy) == whole


@pytest.mark.backends("mysql")
def test_a_scoped_restore_covering_the_unfinished_ones_scope_goes_through(
    scopemy: Database,
) -> None:
    whole = content(scopemy)
    narrow = backup(["scenario_note"])
    wide = backup(["scenario_item", "scenario_note"])
    interrupted(scopemy, narrow.id, "scenario_note")
    run("migrationbackups", "restore", wide.id, interactive=False)
    assert markers.unfinished_restore("default") is None
    assert content(scopemy) == whole


@pytest.mark.backends("mysql")
def test_a_scoped_restore_missing_tables_of_the_unfinished_scope_is_refused(
    scopemy: Database,
) -> None:
    wide = backup(["scenario_item", "scenario_note"])
    narrow = backup(["scenario_item"])
    marker = interrupted(scopemy, wide.id, "scenario_note")
    before, stored = state(scopemy), {m.id for m in get_store().manifests()}
    assert refused_restore(narrow.id) == (
        f"{head(marker)} Backup {narrow.id} holds only the plan's 1 table: "
        f"scenario_item, and the restore of {wide.id} was also writing 1 table: "
        "scenario_note: restoring it would leave the rest as that restore left "
        "it, and clear the marker of a database that is still half-loaded. "
        f"Nothing was done. Restore {wide.id} again first: manage.py "
        f"migrationbackups restore {wide.id} --database default (or restore a "
        f"full backup of this database); then {narrow.id}, if it is still wanted."
    )
    assert_untouched(scopemy, before, marker, stored)


@pytest.mark.backends("mysql")
def test_an_unfinished_restore_of_an_unknown_backup_takes_a_full_one(
    scopemy: Database,
) -> None:
    """The marker names a backup the store no longer has: what its restore
    wrote is unknown, so only a full backup is sure to cover it."""
    whole = content(scopemy)
    full = backup()
    scoped = backup(["scenario_item"])
    marker = interrupted(scopemy, UNKNOWN, "scenario_big")
    before, stored = state(scopemy), {m.id for m in get_store().manifests()}
    assert refused_restore(scoped.id) == (
        f"{head(marker)} Backup {scoped.id} holds only the plan's 1 table: "
        f"scenario_item, and backup {UNKNOWN} is not in "
        f"{get_store().description}, so what its restore was writing is unknown: "
        "restoring it would leave the rest as that restore left it, and clear the "
        "marker of a database that is still half-loaded. Nothing was done. Restore "
        "a full backup of this database first (manage.py migrationbackups list "
        f"shows them); then {scoped.id}, if it is still wanted."
    )
    assert_untouched(scopemy, before, marker, stored)
    run("migrationbackups", "restore", full.id, interactive=False)
    assert markers.unfinished_restore("default") is None
    assert content(scopemy) == whole


# -- PostgreSQL with BACKUP_JOBS > 1: full restores are marked, scoped ones
# -- are one transaction and set no marker --------------------------------------


@pytest.fixture
def scope_pg(database: Database, settings: Any) -> Database:
    """``scenario.0001`` of ``scope_pg`` with rows, parallel backups."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.scope_pg"}
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "BACKUP_JOBS": 2}
    run("guardedmigrate", "scenario", "0001", verbosity=0, no_backup=True)
    database.query(
        "INSERT INTO scenario_item (name) SELECT 'item ' || i "
        "FROM generate_series(1, 5) AS i"
    )
    database.query("INSERT INTO scenario_note (text, item_id) VALUES ('n', 1)")
    database.query("INSERT INTO scenario_log (message) VALUES ('l1'), ('l2')")
    return database


@pytest.mark.backends("postgresql")
def test_an_atomic_scoped_restore_over_an_unfinished_parallel_full_restore_is_refused(
    scope_pg: Database,
) -> None:
    """Before: the scoped restore went through (it sets no marker), took a
    safety backup and left the marker of the full one in place."""
    whole = content(scope_pg)
    scoped = backup(["scenario_item"])
    full = backup()
    assert full.format == "pg-directory"
    assert markers.marks_restores("default", full)
    assert not markers.marks_restores("default", scoped)
    marker = interrupted(scope_pg, full.id, "scenario_log")
    before, stored = state(scope_pg), {m.id for m in get_store().manifests()}
    message = refused_restore(scoped.id)
    assert message.startswith(
        f"{head(marker)} Backup {scoped.id} holds only the plan's 1 table: "
        f"scenario_item, and the restore of {full.id} was writing the whole database"
    )
    assert_untouched(scope_pg, before, marker, stored)
    with pytest.raises(RecoveryRequired):
        markers.restore_marked("default", scoped)
    assert_untouched(scope_pg, before, marker, stored)
    # the way out named in the message
    run("migrationbackups", "restore", full.id, interactive=False)
    assert markers.unfinished_restore("default") is None
    assert content(scope_pg) == whole
    assert MARKER not in scope_pg.tables()


@pytest.mark.backends("postgresql")
def test_an_atomic_scoped_restore_clears_the_marker_it_covers(
    scope_pg: Database,
) -> None:
    """A marker naming a scoped PostgreSQL backup (left by a version whose
    several-database runs marked those restores too): restoring that backup
    again, atomic and unmarked, clears it."""
    whole = content(scope_pg)
    scoped = backup(["scenario_item", "scenario_note"])
    assert not markers.marks_restores("default", scoped)
    interrupted(scope_pg, scoped.id, "scenario_note")
    run("migrationbackups", "restore", scoped.id, interactive=False)
    assert markers.unfinished_restore("default") is None
    assert content(scope_pg) == whole


# -- the marker is replaced, never removed then written --------------------------


@pytest.mark.backends("postgresql", "mysql")
@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_restore_cut_while_it_replaces_the_marker_leaves_one(
    database: Database, monkeypatch: pytest.MonkeyPatch, cut: int
) -> None:
    """A restore sets its marker over the marker of an unfinished one (the
    restore that covers it). Killed between two of the statements that do
    it (the fault: the ``cut``-th statement that writes the marker table
    fails, as a kill before it would), the database must still hold a
    marker: the earlier restore's or its own, never none, since the tables
    of the earlier restore are still half-loaded."""
    from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

    markers.set_marker("default", UNKNOWN)
    writes: list[str] = []

    def cut_short(original: Any) -> Any:
        def execute(self: Any, sql: str, params: Any = None) -> Any:
            if MARKER in sql and not sql.lstrip().upper().startswith("SELECT"):
                writes.append(sql)
                if len(writes) == cut:
                    raise KeyboardInterrupt("killed")
            return original(self, sql, params)

        return execute

    for wrapper in (CursorWrapper, CursorDebugWrapper):
        monkeypatch.setattr(wrapper, "execute", cut_short(wrapper.execute))
    with contextlib.suppress(KeyboardInterrupt):
        markers.set_marker("default", "default-20990101T000000000000")
    monkeypatch.undo()
    database.connection.close()
    marker = markers.unfinished_restore("default")
    assert marker is not None, writes
    assert marker["backup_id"] in (UNKNOWN, "default-20990101T000000000000")
