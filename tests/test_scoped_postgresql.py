"""Plan-scoped PostgreSQL backups, end to end on a real server and clients.

The ``scope_pg`` scenario: ``scenario_item`` (altered by ``0002``, which also
creates ``scenario_extra``), ``scenario_log`` (a large table no plan
touches) and ``scenario_note`` (outside the plans, with a foreign key into
``scenario_item``). ``0003`` fails after altering ``scenario_item``.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from django.db.migrations.loader import MigrationLoader

from migration_guard.backup import catalog, pg_directory
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.exceptions import MigrationGuardError
from tests.conftest import ROOT, TESTPROJECT, Database
from tests.schema import logical_dump

pytestmark = pytest.mark.backends("postgresql")

SCENARIO = {"scenario": "tests.scenarios.scope_pg"}
LOG_ROWS = 20000
#: the tables every plan writes besides its own (see tests/test_plan_scope.py)
ALWAYS = [
    "auth_permission",
    "django_content_type",
    "django_migrations",
    "migration_guard_migrationrun",
]
#: what the backup of the 0001 -> 0002 plan holds (scenario_extra is created)
HELD = sorted([*ALWAYS, "scenario_item"])
LEDGER = "migration_guard_migrationrun"


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


@pytest.fixture
def scope_db(database: Database, settings: Any) -> Database:
    """The scenario at 0001: items, notes about them, a large log."""
    settings.MIGRATION_MODULES = SCENARIO
    run("guardedmigrate", "scenario", "0001", verbosity=0, no_backup=True)
    loader = MigrationLoader(database.connection)
    for app in sorted(loader.migrated_apps - {"scenario"}):
        call_command("migrate", app, verbosity=0)
    database.query(
        "INSERT INTO scenario_item (name) SELECT 'item ' || i "
        "FROM generate_series(1, 50) AS i"
    )
    database.query(
        "INSERT INTO scenario_note (text, item_id) SELECT 'note ' || i, i "
        "FROM generate_series(1, 10) AS i"
    )
    database.query(
        "INSERT INTO scenario_log (message) SELECT repeat(md5(i::text), 4) "
        f"FROM generate_series(1, {LOG_ROWS}) AS i"
    )
    return database


def migrate_scoped(target: str = "0002", **options: Any) -> tuple[Manifest, str]:
    """``guardedmigrate scenario TARGET --backup-scope plan``: its backup, output."""
    out = run("guardedmigrate", "scenario", target, backup_scope="plan", **options)
    (manifest,) = [m for m in get_store().manifests() if m.reason == "pre-migrate"]
    return manifest, out


def listed(manifest: Manifest, kind: str = "TABLE") -> list[str]:
    """The names of the ``kind`` entries of the backup's file in schema
    public (``pg_restore --list``)."""
    path = Path(get_store().location(manifest))
    if manifest.format == "pg-directory":
        with pg_directory.unpacked(path) as directory:
            return _listed(directory, kind)
    return _listed(path, kind)


def _listed(archive: Path, kind: str) -> list[str]:
    listing = subprocess.run(
        ["pg_restore", "--list", str(archive)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entry = re.compile(rf"^\d+; \d+ \d+ {kind} public (.+) \S+$")
    return sorted(
        match.group(1) for line in listing.splitlines() if (match := entry.match(line))
    )


def without_ledger(dump: dict[str, Any]) -> dict[str, Any]:
    dump["rows"].pop(LEDGER, None)
    return dump


def restore(manifest: Manifest) -> str:
    return run("migrationbackups", "restore", manifest.id, interactive=False)


# -- the backup ---------------------------------------------------------------


def test_a_plan_scoped_backup_holds_exactly_the_plans_tables(
    scope_db: Database,
) -> None:
    manifest, out = migrate_scoped()
    assert manifest.scope == sorted([*HELD, "scenario_extra"])
    assert manifest.scope_tables == HELD
    assert listed(manifest) == HELD
    # the sequences of the bigserial columns come with their tables
    assert listed(manifest, "SEQUENCE") == [f"{t}_id_seq" for t in HELD]
    assert listed(manifest, "SEQUENCE SET") == [f"{t}_id_seq" for t in HELD]
    assert set(manifest.rows) == {f"public.{t}" for t in HELD}
    assert manifest.rows["public.scenario_item"] == 50
    assert "the plan's 5 tables" in out
    # the foreign key from outside into the scope is recorded with its definition
    (note,) = [r for r in manifest.relations if r["table"] == "scenario_note"]
    assert note["referenced_table"] == "scenario_item"
    assert note["definition"].startswith("FOREIGN KEY (item_id) REFERENCES")


def test_exact_table_patterns_match_one_table_each(scope_db: Database) -> None:
    """Mixed case, pattern characters and a 63-byte name: each ``--table`` is
    that table only, not its look-alikes."""
    long_name = "t" * 63
    scope_db.query(
        f'CREATE TABLE "Mixed*Case" (id serial PRIMARY KEY);'
        f'CREATE TABLE "mixedXcase" (id int);'
        f'CREATE TABLE "mixed*case" (id int);'
        f'CREATE TABLE "{long_name}" (id int GENERATED BY DEFAULT AS IDENTITY);'
        f'CREATE TABLE "{long_name[:-1]}" (id int);'
        f'INSERT INTO "{long_name}" DEFAULT VALUES'
    )
    manifest = catalog.create_backup(
        "default", reason="manual", tables=["Mixed*Case", long_name]
    )
    assert listed(manifest) == sorted(["Mixed*Case", long_name])
    assert set(manifest.rows) == {'public.Mixed*Case', f"public.{long_name}"}
    # the identity column's sequence comes along
    assert listed(manifest, "SEQUENCE") == sorted(
        ["Mixed*Case_id_seq", f"{long_name[:56]}_id_seq"]
    )


# -- the restore --------------------------------------------------------------


def outside_foreign_keys(database: Database) -> list[tuple[str, str, str]]:
    """Foreign keys into the scenario's item table, with their definitions."""
    return database.query(
        "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype = 'f' "
        "AND confrelid = 'scenario_item'::regclass ORDER BY 1"
    )


def test_a_scoped_restore_replaces_the_plans_tables_only(scope_db: Database) -> None:
    keys = outside_foreign_keys(scope_db)
    before = without_ledger(logical_dump(scope_db.connection))
    manifest, _ = migrate_scoped()
    assert "scenario_extra" in scope_db.tables()
    # after the backup: rows written outside the scope, and inside it
    scope_db.query("INSERT INTO scenario_log (message) VALUES ('after the backup')")
    scope_db.query("INSERT INTO scenario_note (text, item_id) VALUES ('later', 3)")
    scope_db.query("UPDATE scenario_item SET name = 'renamed', size = 7")
    scope_db.query("INSERT INTO scenario_extra (item_id) VALUES (1)")

    out = restore(manifest)
    assert f"{manifest.id}... OK" in out
    after = without_ledger(logical_dump(scope_db.connection))
    assert "scenario_extra" not in scope_db.tables()  # created by the plan: dropped
    assert after["schema"] == before["schema"]
    # the plan's tables are as in the backup, the rest kept what was written since
    for table in HELD:
        if table != LEDGER:
            assert after["rows"][table] == before["rows"][table], table
    assert len(after["rows"]["scenario_log"]) == LOG_ROWS + 1
    assert after["rows"]["scenario_note"] == sorted(
        [*before["rows"]["scenario_note"], (11, "later", 3)], key=repr
    )
    # the outside foreign key is back, the same, and enforced
    assert outside_foreign_keys(scope_db) == keys
    with pytest.raises(IntegrityError):
        scope_db.query("INSERT INTO scenario_note (text, item_id) VALUES ('x', 999)")
    scope_db.connection.close()
    # the sequences are back too: the next item gets the next id of the backup
    assert scope_db.query(
        "INSERT INTO scenario_item (name) VALUES ('new') RETURNING id"
    ) == [(51,)]
