"""Hostile tests of plan-scoped backups on SQLite: each one is a break found
by trying to lose data or get a wrong restore out of a scoped backup.

The scenario (tests/scenarios/hostile): tags, items with an auto-created
many-to-many table to tags, and notes pointing at items.
"""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command

from migration_guard.backup import catalog
from migration_guard.backup.guarded import applied_now
from migration_guard.backup.partials import remove_stale
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.exceptions import RunInterrupted, VerificationRefused
from migration_guard.models import MigrationRun
from tests.conftest import ROOT, Database
from tests.schema import logical_dump

HOSTILE = {"scenario": "tests.scenarios.hostile"}
SCOPED = {"scenario": "tests.scenarios.scoped"}

pytestmark = pytest.mark.backends("sqlite")


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def newest(reason: str = "pre-migrate") -> Manifest:
    return next(m for m in get_store().manifests() if m.reason == reason)


@pytest.fixture
def hostile(database: Database, settings: Any) -> Database:
    """The hostile scenario at 0001: two tags, an item tagged with both, a note."""
    settings.MIGRATION_MODULES = HOSTILE
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO scenario_tag (id, name) VALUES (1, 'red'), (2, 'blue')")
    database.query("INSERT INTO scenario_item (id, name) VALUES (1, 'box')")
    database.query(
        "INSERT INTO scenario_item_tags (item_id, tag_id) VALUES (1, 1), (1, 2)"
    )
    database.query("INSERT INTO scenario_note (id, item_id) VALUES (1, 1)")
    return database


def test_alter_model_table_with_a_many_to_many_restores(hostile: Database) -> None:
    """AlterModelTable renames the model's auto-created many-to-many table
    too (scenario_item_tags -> hostile_items_tags): the scope must hold the
    new name, so that the restore drops it and puts the old one back."""
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    assert "hostile_items_tags" in hostile.tables()
    assert "hostile_items_tags" in manifest.scope
    run("migrationbackups", "restore", manifest.id, interactive=False)
    tables = hostile.tables()
    assert "hostile_items" not in tables and "hostile_items_tags" not in tables
    assert hostile.query("SELECT item_id, tag_id FROM scenario_item_tags") == [
        (1, 1),
        (1, 2),
    ]


def _at_0002(hostile: Database) -> None:
    run("guardedmigrate", "scenario", "0002", no_backup=True)


def test_a_declared_table_that_does_not_exist_is_not_trusted(
    hostile: Database,
) -> None:
    """0003 declares ``scenario_tga`` (a typo) and rewrites scenario_tag: a
    table name that is neither in the database nor created by the plan must
    not bound the scope, or the restore cannot bring the real table back."""
    _at_0002(hostile)
    out = run("guardedmigrate", "scenario", "0003", backup_scope="plan")
    manifest = newest()
    assert "scenario_tga" in out
    assert manifest.scope == []  # a full backup, with the reason printed
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert hostile.query("SELECT id, name FROM scenario_tag ORDER BY id") == [
        (1, "red"),
        (2, "blue"),
    ]


def test_a_declared_table_in_another_case_is_the_table(hostile: Database) -> None:
    """SQLite's table names are case-insensitive: 0004 declares
    ``Scenario_Tag``, which is scenario_tag, so the backup must hold it."""
    run("guardedmigrate", "scenario", "0003", no_backup=True)
    run("guardedmigrate", "scenario", "0004", backup_scope="plan")
    manifest = newest()
    assert "scenario_tag" in manifest.scope_tables
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert hostile.query("SELECT id, name FROM scenario_tag ORDER BY id") == [
        (1, "rewritten"),
        (2, "rewritten"),
    ]


def test_an_older_scoped_backup_does_not_rewind_a_later_deploy(
    database: Database, settings: Any
) -> None:
    """A scoped backup holds django_migrations whole. Restored after a later
    deploy (sessions, whose table is outside the scope), it erases that
    deploy's ledger rows and keeps its table: the next migrate fails on
    ``table "django_session" already exists`` (a non-idempotent RunPython
    would run twice). The restore must be refused, nothing changed."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    run("guardedmigrate", "sessions", no_backup=True)
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert (
        "migrations outside that plan changed database 'default' since it was "
        "taken (applied sessions.0001_initial): restoring it would leave their "
        "tables as they are now while the migration history goes back. Nothing "
        "was changed."
    ) in str(caught.value)
    assert ("sessions", "0001_initial") in database.migration_rows()
    assert ("scenario", "0002_shelf_label") in database.migration_rows()


def test_run_syncdb_tables_are_in_the_scope(database: Database, settings: Any) -> None:
    """``--run-syncdb`` creates the tables of unmigrated apps (sessions here):
    the run changes them, so a restore of its scoped backup must drop them,
    as the restore of a full backup would."""
    settings.MIGRATION_MODULES = {
        "scenario": "tests.scenarios.hostile_big",
        "sessions": None,
    }
    run("guardedmigrate", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True, interactive=False)
    assert "django_session" not in database.tables()
    run("guardedmigrate", backup_scope="plan", run_syncdb=True)
    manifest = newest()
    assert "django_session" in database.tables()
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert "django_session" not in database.tables()


def test_rollback_run_strategy_restore_of_a_scoped_run(
    database: Database, settings: Any
) -> None:
    """``rollback --run N --strategy restore`` of a run that took a backup
    (scoped here; a full one is refused the same way) must restore it; it
    says 'Run N has no backup to restore (it ran with 'taken: ...')' when the
    run's migrations are reversible."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO library_shelf (id, size) VALUES (1, 10)")
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    database.query("INSERT INTO scenario_author (id, name) VALUES (5, 'later')")
    run(
        "rollback", "--run", str(manifest.run_id), "--strategy", "restore",
        interactive=False,
    )  # fmt: skip
    assert database.query("SELECT * FROM library_shelf") == [(1, 10)]
    assert database.query("SELECT id, name FROM scenario_author") == [(5, "later")]
    assert database.migration_rows()[-1] == ("scenario", "0001_initial")


@pytest.mark.parametrize(
    "edit",
    [
        {"scope_tables": [], "rows": {}, "schema": {}},
        {"scope": ["ghost", "keepme"], "scope_tables": ["ghost", "keepme"]},
        {"scope": ["scenario_tag"]},
    ],
    ids=["emptied", "more-than-the-file", "held-not-in-scope"],
)
def test_an_edited_scoped_manifest_is_refused(
    hostile: Database, edit: dict[str, Any]
) -> None:
    """A scoped manifest whose scope_tables are not the tables its file holds
    (or not within its scope) would make the restore drop tables it cannot
    create again: it is refused with exit 4 before anything is touched."""
    hostile.query("CREATE TABLE keepme (id integer PRIMARY KEY, v text)")
    hostile.query("INSERT INTO keepme VALUES (1, 'precious')")
    hostile.query("CREATE TABLE ghost (id integer PRIMARY KEY)")
    hostile.query("INSERT INTO ghost VALUES (7)")
    manifest = catalog.create_backup("default", reason="manual", tables=["keepme"])
    path = hostile.backup_dir / f"{manifest.id}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert f"Backup {manifest.id}: its manifest's scope_tables" in str(caught.value)
    assert hostile.query("SELECT id, v FROM keepme") == [(1, "precious")]
    assert hostile.query("SELECT id FROM ghost") == [(7,)]
    assert [m.id for m in get_store().manifests()] == [manifest.id]  # no safety


def test_an_autoincrement_counter_is_restored_as_it_was(hostile: Database) -> None:
    """AUTOINCREMENT never hands out an id twice: the counter (10 here, above
    the largest id left, 5) must come back as it was, once, or the next row
    reuses id 6 of a deleted row."""
    for tag in range(3, 11):
        hostile.query("INSERT INTO scenario_tag (id, name) VALUES (%s, 't')", [tag])
    hostile.query("DELETE FROM scenario_tag WHERE id > 5")
    manifest = catalog.create_backup(
        "default", reason="manual", tables=["scenario_tag"],
        applied_before=applied_now("default"),
    )  # fmt: skip
    hostile.query("INSERT INTO scenario_tag (id, name) VALUES (20, 'later')")
    catalog.restore_backup("default", manifest)
    assert hostile.query(
        "SELECT name, seq FROM sqlite_sequence WHERE name = 'scenario_tag'"
    ) == [("scenario_tag", 10)]
    hostile.query("INSERT INTO scenario_tag (name) VALUES ('new')")
    assert hostile.query("SELECT max(id) FROM scenario_tag") == [(11,)]


def _interrupt(*args: Any, **kwargs: Any) -> None:
    raise KeyboardInterrupt


def test_an_interrupt_after_the_scoped_restore_committed(
    database: Database, settings: Any
) -> None:
    """Ctrl-C while the restored tables are compared with the manifest (the
    restore has committed): the database is restored, so the message must
    not say it is as before, and the ledger's history must be written back
    (run 3 succeeded; the backup, taken during it, has it 'running')."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    with (
        mock.patch("migration_guard.backup.catalog.check_restored", _interrupt),
        pytest.raises(RunInterrupted) as caught,
    ):
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert database.migration_rows()[-1] == ("scenario", "0001_initial")
    assert "it is as before" not in str(caught.value)
    assert manifest.run_id is not None
    assert MigrationRun.objects.get(pk=manifest.run_id).outcome == "success"


def test_what_post_migrate_writes_is_in_the_scope(
    database: Database, settings: Any
) -> None:
    """post_migrate receivers write tables too: django.contrib.sites creates
    the default site when django_site is empty. The scope holds only the
    content types and permissions, so the restore keeps the row the run
    wrote (a third party's receiver may write anything)."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.hostile_big"}
    run("guardedmigrate", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True, interactive=False)
    database.query("DELETE FROM django_site")
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    assert database.query("SELECT domain FROM django_site") == [("example.com",)]
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert database.query("SELECT domain FROM django_site") == []


def test_a_prune_only_run_says_why_its_backup_is_full(
    database: Database, settings: Any
) -> None:
    """``--prune`` with no migration to apply: the backup is full, and the
    reason is not 'none of the plan's tables exists yet' (they all do)."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.hostile_big"}
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", no_backup=True)
    database.query(
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('scenario', '0009_gone', '2020-01-01')"
    )
    out = run("guardedmigrate", "scenario", backup_scope="plan", prune=True)
    assert (
        "A backup of the whole database: the run applies no migration, so no "
        "plan names its tables.\n"
    ) in out
    assert newest().scope == []


_KILLED_DUMP = """
import os, sqlite3, sys
from pathlib import Path
from migration_guard.backup import sqlite_scoped
live, partial = Path(sys.argv[1]), Path(sys.argv[2])
copy = sqlite_scoped._copy_tables
def killed(db, *args):
    copy(db, *args)
    os._exit(137)  # killed -9 in the middle of the dump's transaction
sqlite_scoped._copy_tables = killed
sqlite_scoped.dump_tables(live, partial, ["t"])
"""


def test_a_killed_scoped_dump_leaves_nothing_behind(tmp_path: Path) -> None:
    """A scoped dump killed half-way leaves its ``.partial`` file, which the
    next run removes, and must leave nothing the next run does not remove
    (SQLite's ``-journal`` of the partial file)."""
    live = tmp_path / "live.sqlite3"
    db = sqlite3.connect(live)
    db.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    db.executemany("INSERT INTO t (v) VALUES (?)", [("x" * 100,)] * 1000)
    db.commit()
    db.close()
    store = tmp_path / "backups"
    store.mkdir()
    partial = store / ".default-1.sqlite3.partial"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_DUMP, str(live), str(partial)],
        cwd=str(ROOT), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert killed.returncode == 137, killed.stderr
    assert partial.exists()
    remove_stale(store)
    assert sorted(p.name for p in store.iterdir()) == []


def test_rows_outside_pointing_at_rows_the_restore_drops(
    database: Database, settings: Any
) -> None:
    """The database moved on: a book (outside the scope) was put on a shelf
    made after the backup. The restore would leave it dangling, so it is
    refused with the rows named, and nothing changed (one sentence each)."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO scenario_author (id, name) VALUES (1, 'Le Guin')")
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    database.query("INSERT INTO library_shelf (id, size, label) VALUES (3, 30, 'x')")
    database.query(
        "INSERT INTO scenario_book (id, title, author_id, shelf_id) "
        "VALUES (1, 'Lavinia', 1, 3)"
    )
    with pytest.raises(Exception) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert (
        "the restored tables break foreign keys of the database (scenario_book "
        "row 1 -> library_shelf); nothing was changed. The state before"
    ) in str(caught.value)
    assert database.query("SELECT id, size, label FROM library_shelf") == [(3, 30, "x")]


def test_the_scoped_backup_of_a_squashed_plan_restores(
    database: Database, settings: Any
) -> None:
    """Django records a squashed migration and those it replaces: they are
    the plan's rows of django_migrations, not migrations applied since."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.squash_middle"}
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    run(
        "guardedmigrate", "scenario", "0002_squashed_0003_shelf_depth",
        backup_scope="plan",
    )  # fmt: skip
    manifest = newest()
    assert manifest.scope
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert [r for r in database.migration_rows() if r[0] == "scenario"] == [
        ("scenario", "0001_initial")
    ]


def test_a_subclass_of_a_known_operation_is_an_unknown_one(
    database: Database, settings: Any
) -> None:
    """A third party's subclass of CreateModel may write any table (this one
    rewrites scenario_tag): like any operation whose tables cannot be known,
    it must make the backup full, not be read as a CreateModel."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.hostile_subclass"}
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO scenario_tag (id, name) VALUES (1, 'red')")
    out = run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    assert database.query("SELECT name FROM scenario_tag") == [("seeded",)]
    assert "SeedingCreateModel is not an operation whose tables can be known" in out
    run("migrationbackups", "restore", newest().id, interactive=False)
    assert database.query("SELECT name FROM scenario_tag") == [("red",)]


@pytest.mark.parametrize("target", ["0002", "0003", "0004", "0005", "0006"])
def test_model_operations_with_relations_restore_exactly(
    database: Database, settings: Any, target: str
) -> None:
    """RenameModel of a model with a many-to-many and one pointed at by it,
    a primary key change, RemoveField/DeleteModel with foreign keys in and
    out of the scope: each plan's scoped backup restores every table as it
    was (these hold; kept as regressions)."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.hostile_models"}
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO scenario_tag (id, name) VALUES (1, 'red'), (2, 'b')")
    database.query("INSERT INTO scenario_item (id, name) VALUES (1, 'box')")
    database.query(
        "INSERT INTO scenario_item_tags (item_id, tag_id) VALUES (1, 1), (1, 2)"
    )
    database.query("INSERT INTO scenario_note (id, item_id) VALUES (1, 1)")
    previous = f"{int(target) - 1:04d}"
    run("guardedmigrate", "scenario", previous, no_backup=True)
    before, schema = logical_dump(database.connection), database.schema()
    run("guardedmigrate", "scenario", target, backup_scope="plan")
    manifest = newest()
    assert manifest.scope
    run("migrationbackups", "restore", manifest.id, interactive=False)
    after = logical_dump(database.connection)
    assert database.schema() == schema
    for table in set(before["rows"]) | set(after["rows"]):
        if table != "migration_guard_migrationrun":
            assert after["rows"].get(table) == before["rows"].get(table), table


def test_an_older_scoped_backup_does_not_reapply_a_later_rollback(
    database: Database, settings: Any
) -> None:
    """The other way round: sessions (outside the scope) was rolled back to
    zero after the backup. Restoring it would write sessions' ledger rows
    back without its table: refused, nothing changed."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "sessions", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    run("guardedmigrate", "sessions", "zero", no_backup=True, interactive=False)
    assert "django_session" not in database.tables()
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert "sessions.0001_initial" in str(caught.value)
    assert ("sessions", "0001_initial") not in database.migration_rows()
    assert ("scenario", "0002_shelf_label") in database.migration_rows()


def test_the_safety_backup_of_a_scoped_restore_undoes_it(
    database: Database, settings: Any
) -> None:
    """The restore unapplied the plan; its safety backup, restored, puts the
    plan back (the command every restore prints). main's scope_history
    refuses it: 'unapplied scenario.0002_shelf_label' is outside the safety
    backup's (empty) plan."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO library_shelf (id, size) VALUES (1, 10)")
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    run("migrationbackups", "restore", newest().id, interactive=False)
    assert database.migration_rows()[-1] == ("scenario", "0001_initial")
    run("migrationbackups", "restore", newest("safety").id, interactive=False)
    assert database.query("SELECT * FROM library_shelf") == [(1, 10, "shelf of 10")]
    assert database.migration_rows()[-1] == ("scenario", "0002_shelf_label")


def test_a_scoped_backup_taken_through_the_api_can_be_restored(
    hostile: Database,
) -> None:
    """``catalog.create_backup(tables=...)`` without ``applied_before`` (its
    default is empty) records no history, so every applied migration counts
    as 'applied since' and the backup can never be restored: a scoped backup
    must record the migrations applied when it is taken."""
    manifest = catalog.create_backup(
        "default", reason="manual", tables=["scenario_tag"]
    )
    assert manifest.applied_before == applied_now("default")
    hostile.query("UPDATE scenario_tag SET name = 'changed'")
    catalog.restore_backup("default", manifest)
    assert hostile.query("SELECT name FROM scenario_tag ORDER BY id") == [
        ("red",),
        ("blue",),
    ]


@pytest.mark.backends("postgresql")
def test_a_primary_key_change_holds_the_models_own_many_to_many_table(
    database: Database, settings: Any
) -> None:
    """0004 makes Thing's primary key a bigint: Django alters the column and
    foreign key of Thing's own auto-created many-to-many table too
    (scenario_thing_tags.thing_id), which the scope leaves out, so its
    restore is refused ('... is gone; ... is new'). PostgreSQL: on SQLite the
    column type does not change."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.hostile_models"}
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "scenario", "0003", no_backup=True)
    schema = database.schema()
    run("guardedmigrate", "scenario", "0004", backup_scope="plan")
    manifest = newest()
    assert "scenario_thing_tags" in manifest.scope
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert database.schema() == schema
