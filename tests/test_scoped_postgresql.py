"""Plan-scoped PostgreSQL backups, end to end on a real server and clients.

The ``scope_pg`` scenario: ``scenario_item`` (altered by ``0002``, which also
creates ``scenario_extra``), ``scenario_log`` (a large table no plan
touches) and ``scenario_note`` (outside the plans, with a foreign key into
``scenario_item``). ``0003`` fails after altering ``scenario_item``.
"""

from __future__ import annotations

import io
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

from migration_guard.backup import catalog, guarded, pg_directory
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
    "django_site",
    "migration_guard_migrationrun",
]
#: what the backup of the 0001 -> 0002 plan holds (scenario_extra is created)
HELD = sorted([*ALWAYS, "scenario_item"])
LEDGER = "migration_guard_migrationrun"
MARKER = "migration_guard_restore_in_progress"


SETTINGS = """\
import os
from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.scenarioapp"]
MIGRATION_MODULES = {"scenario": "tests.scenarios.scope_pg"}
MIGRATION_GUARD = {"BACKUP_DIR": os.environ["MIGRATION_GUARD_BACKUP_DIR"]}
"""


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
    """``dump`` without the ledger's rows and the restore marker."""
    dump["rows"].pop(LEDGER, None)
    for part in ("schema", "rows"):
        dump[part].pop(MARKER, None)
    return dump


def restore(manifest: Manifest) -> str:
    return run("migrationbackups", "restore", manifest.id, interactive=False)


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """What ``Database.manage`` needs to run the scenario in ``manage.py``."""
    (tmp_path / "scope_settings.py").write_text(SETTINGS)
    return {
        "DJANGO_SETTINGS_MODULE": "scope_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(TESTPROJECT)]),
    }


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
    assert "the plan's 6 tables" in out
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
        "default",
        reason="manual",
        tables=["Mixed*Case", long_name],
        applied_before=guarded.applied_now("default"),
    )
    assert listed(manifest) == sorted(["Mixed*Case", long_name])
    assert set(manifest.rows) == {"public.Mixed*Case", f"public.{long_name}"}
    # the identity column's sequence comes along
    assert listed(manifest, "SEQUENCE") == sorted(
        ["Mixed*Case_id_seq", f"{long_name[:56]}_id_seq"]
    )
    # and the restore replaces those two only
    scope_db.query(
        f'INSERT INTO "Mixed*Case" DEFAULT VALUES; INSERT INTO "mixed*case" VALUES (1);'
        f'DELETE FROM "{long_name}"'
    )
    catalog.restore_backup("default", manifest)
    assert scope_db.query('SELECT count(*) FROM "Mixed*Case"') == [(0,)]
    assert scope_db.query(f'SELECT id FROM "{long_name}"') == [(1,)]
    assert scope_db.query('SELECT id FROM "mixed*case"') == [(1,)]


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


def test_a_restore_that_fails_midway_is_rolled_back(
    scope_db: Database, subprocess_env: dict[str, str]
) -> None:
    """An outside row written since the backup points at an item the backup
    lacks: putting the foreign key back fails, and the whole restore with it."""
    manifest, _ = migrate_scoped()
    scope_db.query("INSERT INTO scenario_item (id, name) VALUES (51, 'new')")
    scope_db.query("INSERT INTO scenario_note (text, item_id) VALUES ('new', 51)")
    before = without_ledger(logical_dump(scope_db.connection))
    scope_db.connection.close()
    result = scope_db.manage(
        "migrationbackups", "restore", manifest.id, "--noinput", **subprocess_env
    )
    assert result.returncode == 7, result.stderr
    assert "failed and was rolled back (one transaction), nothing changed" in (
        result.stderr
    )
    assert "scenario_note_item_id" in result.stderr  # the constraint, by name
    assert without_ledger(logical_dump(scope_db.connection)) == before


def test_a_failed_migrations_automatic_restore_uses_the_scoped_backup(
    scope_db: Database, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "always"}
    before = without_ledger(logical_dump(scope_db.connection))
    with pytest.raises(MigrationGuardError) as caught:
        run("guardedmigrate", "scenario", "0003", backup_scope="plan")
    message = str(caught.value)
    assert "0003_fail fails on purpose" in message
    (manifest,) = [m for m in get_store().manifests() if m.reason == "pre-migrate"]
    assert f"restored from backup {manifest.id}" in message
    assert manifest.scope_tables == HELD
    assert manifest.scope == sorted([*HELD, "scenario_extra"])
    # 0002 was applied and committed, 0003 failed: the restore put the
    # plan's tables back and dropped the one 0002 created
    after = without_ledger(logical_dump(scope_db.connection))
    assert "scenario_extra" not in after["schema"]
    assert after == before


def test_a_view_over_a_planned_table_makes_the_backup_full(
    scope_db: Database,
) -> None:
    scope_db.query("CREATE VIEW item_names AS SELECT name FROM scenario_item")
    manifest, out = migrate_scoped()
    assert manifest.scope == []
    assert (
        "A backup of the whole database: view item_names depends on table "
        "scenario_item, and a restore of the plan's tables alone would drop it."
    ) in out
    assert "scenario_log" in listed(manifest)


@pytest.mark.parametrize(
    "sql, what",
    [
        (
            "CREATE TABLE wrapper (item scenario_item)",
            "column item of table wrapper depends on table scenario_item",
        ),
        (
            "CREATE RULE log_items AS ON INSERT TO scenario_log "
            "DO ALSO DELETE FROM scenario_item WHERE false",
            "rule log_items on table scenario_log depends on table scenario_item",
        ),
        (
            "CREATE TABLE counter (n bigint DEFAULT nextval('scenario_item_id_seq'))",
            "default value for column n of table counter depends on table "
            "scenario_item",
        ),
        (  # a foreign key Django cannot see (recorded relations neither)
            "CREATE SCHEMA hidden; CREATE TABLE hidden.ref "
            "(item_id bigint CONSTRAINT ref_item REFERENCES public.scenario_item)",
            "constraint ref_item on table hidden.ref depends on table scenario_item",
        ),
        (
            "CREATE MATERIALIZED VIEW item_count AS SELECT count(*) FROM scenario_item",
            "materialized view item_count depends on table scenario_item",
        ),
    ],
)
def test_what_a_scoped_restore_would_drop_makes_the_backup_full(
    scope_db: Database, sql: str, what: str
) -> None:
    scope_db.query(sql)
    manifest, out = migrate_scoped()
    assert manifest.scope == []
    assert what in out


def test_a_view_created_after_the_backup_refuses_the_restore(
    scope_db: Database, subprocess_env: dict[str, str]
) -> None:
    manifest, _ = migrate_scoped()
    scope_db.query("CREATE VIEW item_names AS SELECT name FROM scenario_item")
    before = without_ledger(logical_dump(scope_db.connection))
    count = len(get_store().manifests())
    result = scope_db.manage(
        "migrationbackups", "restore", manifest.id, "--noinput", **subprocess_env
    )
    assert result.returncode == 4, result.stderr
    assert (
        "restoring them into database 'default' would drop more: view item_names "
        "depends on table scenario_item" in result.stderr
    )
    assert "Nothing was changed" in result.stderr
    assert len(get_store().manifests()) == count  # not even a safety backup
    assert MARKER not in scope_db.tables()
    assert without_ledger(logical_dump(scope_db.connection)) == before


def test_a_new_outside_foreign_key_refuses_the_restore(
    scope_db: Database, subprocess_env: dict[str, str]
) -> None:
    manifest, _ = migrate_scoped()
    scope_db.query(
        "ALTER TABLE scenario_log ADD COLUMN item_id bigint "
        "CONSTRAINT log_item REFERENCES scenario_item (id)"
    )
    before = without_ledger(logical_dump(scope_db.connection))
    result = scope_db.manage(
        "migrationbackups", "restore", manifest.id, "--noinput", **subprocess_env
    )
    assert result.returncode == 4, result.stderr
    assert (
        "the foreign key log_item scenario_log(item_id) -> scenario_item(id) is new"
        in result.stderr
    )
    assert "Nothing was changed" in result.stderr
    assert without_ledger(logical_dump(scope_db.connection)) == before


def test_parallel_scoped_backups(scope_db: Database, settings: Any) -> None:
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "BACKUP_JOBS": 2}
    before = without_ledger(logical_dump(scope_db.connection))
    manifest, _ = migrate_scoped()
    assert manifest.format == "pg-directory"
    assert listed(manifest) == HELD
    scope_db.query("INSERT INTO scenario_log (message) VALUES ('after the backup')")
    restore(manifest)
    after = without_ledger(logical_dump(scope_db.connection))
    assert after["schema"] == before["schema"]
    assert len(after["rows"]["scenario_log"]) == LOG_ROWS + 1
    assert after["rows"]["scenario_item"] == before["rows"]["scenario_item"]


# -- kill -9 ------------------------------------------------------------------

SEED = int(os.environ.get("FAULT_SEED", "11"))
BIG_ITEMS = 300000


def psql_sessions(database: Database) -> int:
    database.connection.close()
    return int(
        database.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'psql'"
        )[0][0]
    )


def differences(one: dict[str, Any], other: dict[str, Any]) -> list[str]:
    return [
        f"{part} {table}"
        for part in ("schema", "rows")
        for table in sorted(set(one[part]) | set(other[part]))
        if one[part].get(table) != other[part].get(table)
    ]


def wait(condition: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not in {seconds}s (FAULT_SEED={SEED})")
        time.sleep(0.01)


def test_kill_9_during_a_scoped_restore_leaves_it_undone_or_done(
    scope_db: Database, subprocess_env: dict[str, str]
) -> None:
    """SIGKILL while psql loads the plan's tables: the transaction is rolled
    back (the database as before) or was committed (restored), never half of
    it; while the restore marker is left, runs refuse the database."""
    scope_db.query(
        "INSERT INTO scenario_item (name) SELECT 'big item ' || i "
        f"FROM generate_series(51, {BIG_ITEMS}) AS i"
    )
    manifest, _ = migrate_scoped()
    scope_db.query("INSERT INTO scenario_log (message) VALUES ('after the backup')")
    scope_db.query("UPDATE scenario_item SET name = 'changed' WHERE id %% 7 = 0")
    scope_db.query("DELETE FROM scenario_note WHERE id > 5")
    before = without_ledger(logical_dump(scope_db.connection))
    scope_db.connection.close()

    child = subprocess.Popen(
        [sys.executable, str(TESTPROJECT / "manage.py"), "migrationbackups",
         "restore", manifest.id, "--noinput"],
        env=scope_db.env(**subprocess_env), cwd=str(ROOT),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait(lambda: psql_sessions(scope_db) > 0 or child.poll() is not None, "psql")
    time.sleep(random.Random(SEED).uniform(0, 0.3))
    killed = child.poll() is None
    if killed:
        os.kill(child.pid, signal.SIGKILL)
    _, err = child.communicate(timeout=60)
    # psql dies with its parent; the server rolls its transaction back
    wait(lambda: psql_sessions(scope_db) == 0, "psql gone")
    after_kill = without_ledger(logical_dump(scope_db.connection))
    marked = MARKER in scope_db.tables()
    scope_db.connection.close()

    if marked:  # killed before the restore finished: runs refuse the database
        assert killed, err
        refused = scope_db.manage("guardedmigrate", "--noinput", **subprocess_env)
        assert refused.returncode == 7, refused.stderr
        assert f"migrationbackups restore {manifest.id}" in refused.stderr
    again = scope_db.manage(
        "migrationbackups", "restore", manifest.id, "--noinput", **subprocess_env
    )
    assert again.returncode == 0, again.stderr
    restored = without_ledger(logical_dump(scope_db.connection))
    assert restored != before
    assert restored["rows"]["scenario_log"] == before["rows"]["scenario_log"]
    assert after_kill in (before, restored), (
        f"half-restored (FAULT_SEED={SEED}): "
        + str(differences(after_kill, before))
        + str(differences(after_kill, restored))
    )
