"""Plan-scoped backups end to end, on the three backends with their real tools.

The scenario (tests/scenarios/scoped): authors and books stay outside the
plans; the plans change ``library_shelf``, which ``scenario_book`` points at.
A scoped backup holds the plan's tables only, a restore replaces only them,
and the rest of the database (rows written since included) is left alone.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from migration_guard.backup import catalog
from migration_guard.backup.guarded import applied_now
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.exceptions import MigrationFailed, VerificationRefused
from migration_guard.models import MigrationRun
from tests.conftest import ROOT, TESTPROJECT, Database
from tests.schema import logical_dump

SCOPED = {"scenario": "tests.scenarios.scoped"}
#: the tables every plan writes, as the scenario's database has them
HISTORY = [
    "auth_permission",
    "django_content_type",
    "django_migrations",
    "django_site",
]
LEDGER = "migration_guard_migrationrun"


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


@pytest.fixture
def library(database: Database, settings: Any) -> Database:
    """The scenario at 0001, with two shelves, an author and a book."""
    settings.MIGRATION_MODULES = SCOPED
    run("guardedmigrate", "auth", no_backup=True)
    run("guardedmigrate", "sites", no_backup=True)
    run("guardedmigrate", "scenario", "0001", no_backup=True)
    database.query("INSERT INTO scenario_author (id, name) VALUES (1, 'Le Guin')")
    database.query("INSERT INTO library_shelf (id, size) VALUES (1, 10), (2, 20)")
    database.query(
        "INSERT INTO scenario_book (id, title, author_id, shelf_id) "
        "VALUES (1, 'The Dispossessed', 1, 2)"
    )
    return database


def newest() -> Manifest:
    return get_store().manifests()[0]


def outside_rows(db: Database) -> list[tuple[Any, ...]]:
    return db.query(
        "SELECT a.id, a.name, b.id, b.title FROM scenario_author a "
        "LEFT JOIN scenario_book b ON b.author_id = a.id ORDER BY a.id, b.id"
    )


def test_a_scoped_backup_holds_the_plans_tables_only(library: Database) -> None:
    out = run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    assert manifest.scope_tables == sorted([*HISTORY, "library_shelf", LEDGER])
    assert manifest.scope == manifest.scope_tables
    assert sorted(t.split(".")[-1] for t in manifest.rows) == manifest.scope_tables
    assert sorted(t.split(".")[-1] for t in manifest.schema) == manifest.scope_tables
    assert [
        (r["table"], r["columns"], r["referenced_table"])
        for r in manifest.relations
        if r["referenced_table"] == "library_shelf"
    ] == [("scenario_book", "shelf_id", "library_shelf")]
    assert "the plan's 6 tables: auth_permission, django_content_type" in out
    run_row = MigrationRun.objects.get(pk=manifest.run_id)
    assert run_row.backup_note.startswith("taken: plan-scoped, 6 tables: ")
    assert library.query("SELECT id, label FROM library_shelf ORDER BY id") == [
        (1, "shelf of 10"),
        (2, "shelf of 20"),
    ]


def test_a_restore_replaces_the_scope_and_keeps_the_rest(library: Database) -> None:
    before = logical_dump(library.connection)
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    library.query("INSERT INTO scenario_author (id, name) VALUES (2, 'Butler')")
    library.query("UPDATE library_shelf SET size = 99 WHERE id = 1")

    shown = run("migrationbackups", "show", manifest.id)
    assert (
        "  Holds: the plan's 6 tables: auth_permission, django_content_type, "
        "django_migrations, django_site, library_shelf, ...; 3 foreign "
        "keys to or from other tables recorded\n"
    ) in shown
    run("migrationbackups", "restore", manifest.id, interactive=False)

    after = logical_dump(library.connection)
    assert "label" not in [c.name for c in _columns("library_shelf")]
    assert library.query("SELECT id, size FROM library_shelf ORDER BY id") == [
        (1, 10),
        (2, 20),
    ]
    assert outside_rows(library) == [
        (1, "Le Guin", 1, "The Dispossessed"),
        (2, "Butler", None, None),  # written after the backup: kept
    ]
    assert library.migration_rows()[-1] == ("scenario", "0001_initial")
    for table in ("library_shelf", "django_migrations"):
        assert after["rows"][table] == before["rows"][table]
    # the foreign key from outside the scope still holds
    with pytest.raises(IntegrityError), transaction.atomic():
        library.query(
            "INSERT INTO scenario_book (id, title, author_id, shelf_id) "
            "VALUES (2, 'Kindred', 2, 42)"
        )


def _columns(table: str) -> list[Any]:
    with connection.cursor() as cursor:
        return list(connection.introspection.get_table_description(cursor, table))


def test_a_failed_plan_is_restored_from_its_scoped_backup(
    library: Database, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "always"}
    before = library.schema()
    rows = logical_dump(library.connection)
    with pytest.raises(MigrationFailed) as caught:
        run("guardedmigrate", "scenario", "0003", backup_scope="plan")
    assert "crates cannot be filled" in str(caught.value)
    assert "was restored from backup" in str(caught.value)
    manifest = next(m for m in get_store().manifests() if m.reason == "pre-migrate")
    assert "scenario_crate" in manifest.scope
    assert "scenario_crate" not in manifest.scope_tables  # the plan creates it
    assert library.schema() == before
    after = logical_dump(library.connection)
    for table in set(after["rows"]) | set(rows["rows"]):
        if table != LEDGER:
            assert after["rows"].get(table) == rows["rows"].get(table), table
    assert "scenario_crate" not in library.tables()


def test_a_changed_outside_relation_refuses_the_restore(library: Database) -> None:
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    library.query(
        "CREATE TABLE extra_label (id integer PRIMARY KEY, shelf_id bigint, "
        "FOREIGN KEY (shelf_id) REFERENCES library_shelf (id))"
    )
    before = logical_dump(library.connection)
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    message = str(caught.value)
    assert f"Backup {manifest.id} holds only the tables of its plan" in message
    assert "extra_label(shelf_id) -> library_shelf(id) is new" in message
    assert "Nothing was changed" in message
    assert logical_dump(library.connection) == before
    assert [m.id for m in get_store().manifests()] == [manifest.id]  # no safety


def test_an_undeclared_data_migration_makes_the_backup_full(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.scope"}
    run("guardedmigrate", "scenario", "0005", no_backup=True)
    out = run("guardedmigrate", "scenario", "0006", backup_scope="plan")
    manifest = newest()
    assert manifest.scope == [] and manifest.scope_tables == []
    assert "A backup of the whole database: scenario.0006_undeclared" in out
    assert "migration_guard_writes" in out
    assert {t.split(".")[-1] for t in manifest.rows} >= {"scenario_writer"}


@pytest.mark.parametrize(
    ("mode", "threshold", "scoped"),
    [
        ("auto", 1, True),  # every database is larger than one byte
        ("auto", None, False),
        ("auto", 1024**4, False),
        ("full", 1, False),
        ("plan", None, True),
    ],
)
def test_backup_scope_setting(
    library: Database, settings: Any, mode: str, threshold: int | None, scoped: bool
) -> None:
    settings.MIGRATION_GUARD = {
        **settings.MIGRATION_GUARD,
        "BACKUP_SCOPE": mode,
        "BACKUP_SCOPE_THRESHOLD": threshold,
    }
    run("guardedmigrate", "scenario", "0002")
    assert bool(newest().scope) is scoped


def test_manage_py_backup_scope_flag(library: Database, tmp_path: Path) -> None:
    (tmp_path / "scoped_settings.py").write_text(
        "from tests.settings import *  # noqa\n"
        f"DATABASES = {{'default': {library.server.settings(library.name)!r}}}\n"
        f"MIGRATION_MODULES = {SCOPED!r}\n"
        f"MIGRATION_GUARD = {{'BACKUP_DIR': {str(library.backup_dir)!r}}}\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "scoped_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTPROJECT), str(tmp_path)]),
    }
    result = library.manage(
        "guardedmigrate", "scenario", "0002", "--backup-scope", "plan",
        "--no-color", **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the plan's 6 tables" in result.stdout, result.stdout
    assert newest().scope_tables == sorted([*HISTORY, "library_shelf", LEDGER])
    refused = library.manage("guardedmigrate", "--backup-scope", "tables", **env)
    assert refused.returncode == 1  # argparse: usage error, nothing done
    assert "invalid choice: 'tables'" in refused.stderr


def test_a_scoped_backup_verifies_and_restores_alone(library: Database) -> None:
    manifest = catalog.create_backup(
        "default",
        reason="manual",
        tables=["library_shelf", "not_yet_there"],
        applied_before=applied_now("default"),
    )
    assert manifest.scope == ["library_shelf", "not_yet_there"]
    assert manifest.scope_tables == ["library_shelf"]
    catalog.verify_backup(manifest, full=True)
    library.query("DELETE FROM scenario_book")
    library.query("DELETE FROM library_shelf")
    library.query("CREATE TABLE not_yet_there (id integer PRIMARY KEY)")
    catalog.restore_backup("default", manifest)
    assert library.query("SELECT id, size FROM library_shelf ORDER BY id") == [
        (1, 10),
        (2, 20),
    ]
    assert library.query("SELECT count(*) FROM scenario_book") == [(0,)]
    assert "not_yet_there" not in library.tables()


def test_a_restore_whose_keys_point_at_a_dropped_table_is_refused(
    library: Database,
) -> None:
    library.query("CREATE TABLE extra_ref (id integer PRIMARY KEY)")
    library.query(
        "CREATE TABLE extra_child (id integer PRIMARY KEY, ref_id integer, "
        "FOREIGN KEY (ref_id) REFERENCES extra_ref (id))"
    )
    manifest = catalog.create_backup(
        "default",
        reason="manual",
        tables=["extra_child"],
        applied_before=applied_now("default"),
    )
    assert [r["referenced_table"] for r in manifest.relations] == ["extra_ref"]
    library.query("DROP TABLE extra_child")
    library.query("DROP TABLE extra_ref")
    with pytest.raises(VerificationRefused) as caught:
        catalog.restore_backup("default", manifest)
    assert "table extra_ref, which the backup's foreign keys point at, is gone" in str(
        caught.value
    )
    assert "extra_child" not in library.tables()


def test_a_restore_after_a_later_deploy_outside_its_plan_is_refused(
    library: Database,
) -> None:
    run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    run("guardedmigrate", "sessions", no_backup=True)  # a later deploy
    before = logical_dump(library.connection)
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert (
        f"Backup {manifest.id} holds only the tables of its plan, and migrations "
        "outside that plan changed database 'default' since it was taken (applied "
        "sessions.0001_initial): restoring it would leave their tables"
    ) in str(caught.value)
    assert logical_dump(library.connection) == before
    # unapplying the later deploy makes the backup usable again
    run("guardedmigrate", "sessions", "zero", no_backup=True, interactive=False)
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert library.migration_rows()[-1] == ("scenario", "0001_initial")


def _seed_editors(using: str = "default", **kwargs: Any) -> None:
    """A third party's post_migrate receiver: it makes the 'editors' group."""
    from django.contrib.auth.models import Group

    Group.objects.using(using).get_or_create(name="editors")


SEED_EDITORS = "tests.test_scoped_backup._seed_editors"


@pytest.fixture
def seed_editors() -> Iterator[None]:
    from django.db.models.signals import post_migrate

    post_migrate.connect(_seed_editors, dispatch_uid="test_seed_editors")
    yield
    post_migrate.disconnect(dispatch_uid="test_seed_editors")


def test_an_undeclared_receiver_makes_the_backup_full_and_names_the_key(
    library: Database, seed_editors: None
) -> None:
    out = run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    assert manifest.scope == [] and manifest.scope_tables == []
    assert (
        "A backup of the whole database: the post_migrate receiver "
        "tests.test_scoped_backup._seed_editors may write any table (declare the "
        "tables it writes in MIGRATION_GUARD['POST_MIGRATE_WRITES'] under the key "
        "'tests.test_scoped_backup._seed_editors', [] when it writes none, or "
        "give the function a migration_guard_writes list).\n"
    ) in out


def test_a_receiver_declared_by_the_setting_is_in_the_scoped_backup(
    library: Database, seed_editors: None, settings: Any
) -> None:
    """The receiver's table is backed up with the plan's, and a restore takes
    back what the receiver wrote during the run."""
    settings.MIGRATION_GUARD = {
        **settings.MIGRATION_GUARD,
        "POST_MIGRATE_WRITES": {SEED_EDITORS: ["auth_group"]},
    }
    out = run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    tables = sorted([*HISTORY, "auth_group", "library_shelf", LEDGER])
    assert manifest.scope_tables == tables
    assert manifest.scope == tables
    assert sorted(t.split(".")[-1] for t in manifest.rows) == tables
    assert "the plan's 7 tables: auth_group, auth_permission" in out
    assert library.query("SELECT name FROM auth_group") == [("editors",)]

    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert library.query("SELECT name FROM auth_group") == []
    assert library.migration_rows()[-1] == ("scenario", "0001_initial")


def test_a_declared_table_in_another_case_is_backed_up_or_makes_the_backup_full(
    library: Database, seed_editors: None, settings: Any
) -> None:
    """``Auth_Group`` for ``auth_group``: SQLite ignores the case of table
    names, so the table is in the backup; PostgreSQL and MariaDB on Linux
    (``lower_case_table_names`` 0) do not, so it is a typo and the backup is
    of the whole database. Never a bounded backup without the table the
    receiver writes."""
    settings.MIGRATION_GUARD = {
        **settings.MIGRATION_GUARD,
        "POST_MIGRATE_WRITES": {SEED_EDITORS: ["Auth_Group"]},
    }
    out = run("guardedmigrate", "scenario", "0002", backup_scope="plan")
    manifest = newest()
    if library.vendor == "sqlite":
        assert "auth_group" in manifest.scope_tables
    else:
        assert manifest.scope == [] and manifest.scope_tables == []
        assert (
            "A backup of the whole database: MIGRATION_GUARD['POST_MIGRATE_WRITES']"
            "['tests.test_scoped_backup._seed_editors'] names table 'Auth_Group', "
            "which neither exists nor is created by the plan.\n"
        ) in out
    assert library.query("SELECT name FROM auth_group") == [("editors",)]
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert library.query("SELECT name FROM auth_group") == []
