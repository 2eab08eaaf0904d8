"""Plan-scoped backups on MariaDB: the dump, the restore, and what refuses them.

The ``scopemy`` scenario: a big table and a table with a foreign key into
the small table the plans alter stay outside every plan's scope.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError

from migration_guard.backup import catalog
from migration_guard.backup.base import BackupError, backend_for
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.exceptions import (
    MigrationFailed,
    RestoreFailed,
    VerificationRefused,
)
from tests.conftest import Database
from tests.schema import logical_dump, snapshot

pytestmark = pytest.mark.backends("mysql")

BIG = 5000
#: what the plan 0001 -> 0002 holds in its backup (the tables that exist)
SCOPE_TABLES = ["django_migrations", "migration_guard_migrationrun", "scenario_item"]
CREATE = re.compile(r"^CREATE TABLE `([^`]+)`", re.MULTILINE)


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


@pytest.fixture
def scopemy(database: Database, settings: Any) -> Database:
    """The database at ``scenario.0001`` with rows everywhere, ``BIG`` big ones."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.scopemy"}
    run("guardedmigrate", "scenario", "0001", no_backup=True, verbosity=0)
    database.query("SET SESSION max_recursive_iterations = 1000000")
    database.query(
        "INSERT INTO scenario_big (label) WITH RECURSIVE c(i) AS (SELECT 1 "
        f"UNION ALL SELECT i + 1 FROM c WHERE i < {BIG}) SELECT CONCAT('big ', i) "
        "FROM c"
    )
    database.query("INSERT INTO scenario_item (name, qty) VALUES ('a', 1), ('b', 2)")
    database.query("INSERT INTO scenario_note (text, item_id) VALUES ('n', 1)")
    return database


def migrate_scoped(target: str, **options: Any) -> tuple[Manifest, str]:
    """``guardedmigrate scenario target --backup-scope plan``; its backup."""
    out = run("guardedmigrate", "scenario", target, backup_scope="plan", **options)
    manifests = get_store().manifests()
    return manifests[0], out


def scoped_backup(database: Database, tables: list[str]) -> Manifest:
    """A manual backup of ``tables``, with the history as it is (which a
    scoped restore compares)."""
    applied = [f"{app}.{name}" for app, name in database.migration_rows()]
    return catalog.create_backup(
        "default", reason="manual", tables=tables, applied_before=applied
    )


def dumped_tables(manifest: Manifest) -> list[str]:
    text = Path(get_store().location(manifest)).read_text()
    return sorted(CREATE.findall(text))


def test_the_scoped_dump_holds_exactly_the_plans_tables(scopemy: Database) -> None:
    scopemy.query("CREATE PROCEDURE scopemy_proc() SELECT 1")
    manifest, out = migrate_scoped("0002")
    assert manifest.scope_tables == SCOPE_TABLES
    assert "scenario_extra" in manifest.scope  # created by the plan
    assert "scenario_big" not in manifest.scope
    assert dumped_tables(manifest) == SCOPE_TABLES
    assert set(manifest.rows) == set(SCOPE_TABLES)
    assert manifest.rows["scenario_item"] == 2
    text = Path(get_store().location(manifest)).read_text()
    assert "scopemy_proc" not in text  # routines stay out of a scoped dump
    assert f"the plan's 3 tables: {', '.join(SCOPE_TABLES)}" in out
    (relation,) = manifest.relations
    assert relation.pop("name").startswith("scenario_note_item_id_")
    assert [relation] == [
        {
            "table": "scenario_note",
            "columns": "item_id",
            "referenced_table": "scenario_item",
            "referenced_columns": "id",
            "definition": "",
        }
    ]


def test_a_scoped_restore_replaces_the_plans_tables_only(scopemy: Database) -> None:
    scopemy.query("CREATE PROCEDURE scopemy_proc() SELECT 1")
    before = snapshot(scopemy.connection)
    items = scopemy.query("SELECT * FROM scenario_item ORDER BY id")
    manifest, _ = migrate_scoped("0002")
    # written after the backup: outside rows stay, inside rows go
    scopemy.query("INSERT INTO scenario_big (label) VALUES ('after')")
    scopemy.query("INSERT INTO scenario_note (text, item_id) VALUES ('after', 2)")
    scopemy.query("INSERT INTO scenario_item (name, qty, price) VALUES ('c', 3, 5)")
    scopemy.query("INSERT INTO scenario_extra (item_id) VALUES (3)")
    run("migrationbackups", "restore", manifest.id, interactive=False)
    scopemy.connection.close()
    assert snapshot(scopemy.connection) == before  # scenario_extra is gone
    assert scopemy.query("SELECT * FROM scenario_item ORDER BY id") == items
    assert scopemy.query("SELECT COUNT(*) FROM scenario_big") == [(BIG + 1,)]
    assert scopemy.query("SELECT text, item_id FROM scenario_note ORDER BY id") == [
        ("n", 1),
        ("after", 2),
    ]
    assert scopemy.query(
        "SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = DATABASE()"
    ) == [("scopemy_proc",)]
    assert [n for a, n in scopemy.migration_rows() if a == "scenario"] == [
        "0001_initial"
    ]
    # the outside foreign key into the reloaded table enforces again
    with pytest.raises(IntegrityError):
        scopemy.query("INSERT INTO scenario_note (text, item_id) VALUES ('x', 99)")


def test_a_failed_migration_is_restored_from_the_scoped_backup(
    scopemy: Database, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "auto"}
    before = logical_dump(scopemy.connection)
    with pytest.raises(MigrationFailed) as failed:
        migrate_scoped("0003")
    (manifest,) = [m for m in get_store().manifests() if m.reason == "pre-migrate"]
    assert manifest.scope_tables == SCOPE_TABLES
    assert f"The database was restored from backup {manifest.id}" in str(failed.value)
    scopemy.connection.close()
    after = logical_dump(scopemy.connection)
    ledger = "migration_guard_migrationrun"
    assert {t: r for t, r in after["rows"].items() if t != ledger} == {
        t: r for t, r in before["rows"].items() if t != ledger
    }
    assert after["schema"] == before["schema"]


def test_a_view_over_a_scoped_table_makes_the_backup_full(scopemy: Database) -> None:
    scopemy.query("CREATE VIEW scenario_itemview AS SELECT name FROM scenario_item")
    manifest, out = migrate_scoped("0002")
    assert manifest.scope == []
    assert (
        "A backup of the whole database: the view scenario_itemview reads "
        "scenario_item, which a restore of the plan's tables alone would "
        "replace under it." in out
    )
    assert "scenario_big" in dumped_tables(manifest)


def test_an_outside_trigger_using_a_scoped_table_is_a_problem(
    scopemy: Database,
) -> None:
    scopemy.query(
        "CREATE TRIGGER big_counts AFTER INSERT ON scenario_big FOR EACH ROW "
        "UPDATE scenario_item SET qty = qty + 1"
    )
    scopemy.query(
        "CREATE TRIGGER item_own BEFORE INSERT ON scenario_item FOR EACH ROW "
        "SET NEW.qty = NEW.qty + 0"
    )
    backend = backend_for(scopemy.connection)
    assert backend.scope_problems(["scenario_item", "django_migrations"]) == [
        "the trigger big_counts of table scenario_big, outside the plan, uses "
        "scenario_item"
    ]
    assert backend.scope_problems(["scenario_big"]) == []
    # a trigger of a scoped table is dumped with it
    manifest = catalog.create_backup(
        "default", reason="manual", tables=["scenario_item"]
    )
    text = Path(get_store().location(manifest)).read_text()
    assert "item_own" in text and "big_counts" not in text


def test_a_changed_outside_relation_refuses_the_restore(scopemy: Database) -> None:
    manifest, _ = migrate_scoped("0002")
    scopemy.query(
        "ALTER TABLE scenario_big ADD COLUMN item_id BIGINT NULL, ADD CONSTRAINT "
        "big_item FOREIGN KEY (item_id) REFERENCES scenario_item (id)"
    )
    before = logical_dump(scopemy.connection)
    stored = len(get_store().manifests())
    with pytest.raises(VerificationRefused) as refused:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert refused.value.returncode == 4
    assert (
        "the foreign key big_item scenario_big(item_id) -> scenario_item(id) is new"
        in str(refused.value)
    )
    assert "Nothing was changed." in str(refused.value)
    scopemy.connection.close()
    assert logical_dump(scopemy.connection) == before
    assert len(get_store().manifests()) == stored  # no safety backup either


def test_rows_pointing_at_what_the_backup_lacks_fail_the_restore(
    scopemy: Database,
) -> None:
    """Foreign key checks are off during the load: the references are checked
    after it, and the safety backup undoes the restore."""
    manifest, _ = migrate_scoped("0002")
    scopemy.query("INSERT INTO scenario_item (name, qty) VALUES ('c', 3)")
    scopemy.query("INSERT INTO scenario_note (text, item_id) VALUES ('on c', 3)")
    before = logical_dump(scopemy.connection)
    with pytest.raises(RestoreFailed) as failed:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    (safety,) = [m for m in get_store().manifests() if m.reason == "safety"]
    assert safety.scope == manifest.scope
    message = str(failed.value)
    assert (
        f"Restoring backup {manifest.id} into database 'default' failed: The "
        f"backup is loaded into MySQL database '{scopemy.name}' (3 tables), but "
        "the rest of the database no longer matches them: 1 row of "
        "scenario_note points at rows of scenario_item that are not there "
        "(the foreign key scenario_note_item_id_"
    ) in message
    assert "scenario_note(item_id) -> scenario_item(id))" in message
    assert f"manage.py migrationbackups restore {safety.id}" in message
    scopemy.connection.close()
    assert "migration_guard_restore_in_progress" in scopemy.tables()
    run("migrationbackups", "restore", safety.id, interactive=False)
    scopemy.connection.close()
    after = logical_dump(scopemy.connection)
    ledger = "migration_guard_migrationrun"
    assert after["schema"] == before["schema"]
    assert {t: r for t, r in after["rows"].items() if t != ledger} == {
        t: r for t, r in before["rows"].items() if t != ledger
    }


def test_a_view_named_in_the_scope_is_kept_by_the_restore(scopemy: Database) -> None:
    """A scope's name that is a view when the backup is taken (an unmanaged
    model over a view) was not created by the plan: the restore keeps it;
    a table of the scope the plan turned into a view is a table again."""
    scopemy.query("CREATE VIEW scenario_names AS SELECT label FROM scenario_big")
    scopemy.query("CREATE TABLE scenario_plain (id INT PRIMARY KEY, v INT)")
    scopemy.query("INSERT INTO scenario_plain VALUES (1, 10), (2, 20)")
    tables = ["scenario_plain", "scenario_names", "scenario_gone"]
    manifest = scoped_backup(scopemy, tables)
    assert manifest.scope == sorted(tables)
    assert manifest.scope_tables == ["scenario_plain"]
    scopemy.query("CREATE TABLE scenario_gone (id INT PRIMARY KEY)")
    scopemy.query("DROP TABLE scenario_plain")
    scopemy.query("CREATE VIEW scenario_plain AS SELECT 1 AS id, 2 AS v")
    scopemy.connection.close()
    catalog.restore_backup("default", manifest)
    scopemy.connection.close()
    assert scopemy.query(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN "
        "('scenario_plain', 'scenario_names', 'scenario_gone') ORDER BY 1"
    ) == [("scenario_names", "VIEW"), ("scenario_plain", "BASE TABLE")]
    assert scopemy.query("SELECT COUNT(*) FROM scenario_names") == [(BIG,)]
    assert scopemy.query("SELECT * FROM scenario_plain ORDER BY id") == [
        (1, 10),
        (2, 20),
    ]


def test_restored_rows_pointing_at_deleted_outside_rows_fail_the_restore(
    scopemy: Database,
) -> None:
    scopemy.query("CREATE TABLE extra_ref (id INT PRIMARY KEY)")
    scopemy.query(
        "CREATE TABLE extra_child (id INT PRIMARY KEY, ref_id INT, "
        "CONSTRAINT child_ref FOREIGN KEY (ref_id) REFERENCES extra_ref (id))"
    )
    scopemy.query("INSERT INTO extra_ref VALUES (1), (2)")
    scopemy.query("INSERT INTO extra_child VALUES (1, 1), (2, 2), (3, NULL)")
    manifest = scoped_backup(scopemy, ["extra_child"])
    scopemy.query("DELETE FROM extra_child WHERE id = 2")
    scopemy.query("DELETE FROM extra_ref WHERE id = 2")
    scopemy.connection.close()
    with pytest.raises(BackupError) as failed:
        catalog.restore_backup("default", manifest)
    assert str(failed.value) == (
        f"The backup is loaded into MySQL database '{scopemy.name}' (1 table), "
        "but the rest of the database no longer matches them: 1 row of "
        "extra_child points at rows of extra_ref that are not there "
        "(the foreign key child_ref extra_child(ref_id) -> extra_ref(id)). "
        "Rows written since the backup refer to rows it does not hold (or the "
        "other way round): delete or fix them and run the restore again, or "
        "restore a full backup."
    )
    scopemy.query("INSERT INTO extra_ref VALUES (2)")
    catalog.restore_backup("default", manifest)  # fixed: the restore goes through
    scopemy.connection.close()
    assert scopemy.query("SELECT * FROM extra_child ORDER BY id") == [
        (1, 1),
        (2, 2),
        (3, None),
    ]


@pytest.mark.parametrize(("start", "target"), [("0003", "0005"), ("0005", "0003")])
def test_renamed_and_dropped_tables_come_back_exactly(
    database: Database, settings: Any, start: str, target: str
) -> None:
    """``scope`` 0004 renames a model others point at, 0005 drops a model
    and a many-to-many table: forwards and backwards, the restore of the
    scoped backup brings every table of the plan back as it was."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.scope"}
    run("guardedmigrate", "scenario", "0002", no_backup=True, verbosity=0)
    database.query("INSERT INTO scenario_author (id, name) VALUES (1, 'ann')")
    database.query("INSERT INTO scenario_tag (id, label) VALUES (1, 't')")
    database.query(
        "INSERT INTO scenario_book (id, title, author_id, pages) VALUES (1, 'b', 1, 3)"
    )
    database.query("INSERT INTO scenario_book_tags (book_id, tag_id) VALUES (1, 1)")
    database.query("INSERT INTO library_shelf (size) VALUES (4)")
    run("guardedmigrate", "scenario", start, no_backup=True, verbosity=0)
    before = logical_dump(database.connection)
    manifest, _ = migrate_scoped(target, interactive=False)
    assert manifest.scope_tables and "library_shelf" not in manifest.scope
    run("migrationbackups", "restore", manifest.id, interactive=False)
    database.connection.close()
    after = logical_dump(database.connection)
    ledger = "migration_guard_migrationrun"
    assert after["schema"] == before["schema"]
    assert {t: r for t, r in after["rows"].items() if t != ledger} == {
        t: r for t, r in before["rows"].items() if t != ledger
    }


def test_a_view_over_the_scope_made_since_the_backup_refuses_the_restore(
    scopemy: Database,
) -> None:
    manifest, _ = migrate_scoped("0002")
    scopemy.query("CREATE VIEW scenario_itemview AS SELECT name FROM scenario_item")
    before = logical_dump(scopemy.connection)
    with pytest.raises(VerificationRefused) as refused:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert refused.value.returncode == 4
    assert (
        "the view scenario_itemview reads scenario_item, which a restore of the "
        "plan's tables alone would replace under it. Nothing was changed."
    ) in str(refused.value)
    scopemy.connection.close()
    assert logical_dump(scopemy.connection) == before
    assert "migration_guard_restore_in_progress" not in scopemy.tables()
