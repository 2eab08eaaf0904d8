"""Round trips on scratch databases, on the three backends."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from migration_guard.exceptions import UsageError
from migration_guard.gates.roundtrip import (
    MigrationResult,
    run_roundtrip,
    schema_changes,
)
from migration_guard.reconcile.schema import Column
from migration_guard.testing import scratch
from tests.conftest import Database

BADREVERSE = {"scenario": "tests.scenarios.badreverse"}
SIMPLE = {"scenario": "tests.scenarios.simple"}
SCRATCH_ALIAS = "default" + scratch.SUFFIX


def scratch_gone(db: Database, where: str) -> bool:
    """The scratch database of ``db`` no longer exists, nor its alias."""
    if scratch._in_use(SCRATCH_ALIAS):
        return False
    if db.vendor == "sqlite":
        path = where.removeprefix("temporary SQLite file ")
        return not Path(path).exists()
    return f"test_{db.name}" not in server_databases(db)


def server_databases(db: Database) -> set[str]:
    if db.vendor == "postgresql":
        sql = "SELECT datname FROM pg_database"
    else:
        sql = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
    return {row[0] for row in db.query(sql)}


def test_backward_step_leaving_a_column_is_caught(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = BADREVERSE
    report = run_roundtrip("default", ["scenario"])

    assert [(r.name, r.status) for r in report.results] == [
        ("0001_initial", "ok"),
        ("0002_legacy_code", "mismatch"),
        ("0003_gadget_size", "not run"),
    ]
    bad = report.results[1]
    assert [(c.key, c.before) for c in bad.changes] == [
        (("column", "scenario_gadget", "legacy_code"), None)
    ]
    (change,) = bad.changes
    assert (change.table, change.column) == ("scenario_gadget", "legacy_code")
    assert isinstance(change.after, Column)
    assert str(change) == (
        "column scenario_gadget.legacy_code left behind (CharField(20) NULL)"
    )
    # the column left behind makes re-applying fail: the round trip stops there
    assert bad.step == "re-apply" and bad.error
    assert report.stopped == (
        "scenario.0002_legacy_code could not be re-applied, so the migrations "
        "after it were not checked"
    )
    assert [r.label for r in report.failures] == ["scenario.0002_legacy_code"]
    assert not report.ok
    assert bad.apply > 0 and bad.unapply > 0
    # every table is compared after a migration that runs SQL
    assert bad.tables is None
    assert report.results[0].tables == ["scenario_gadget"]
    assert scratch_gone(database, report.where)
    assert database.tables() == set()  # the real database was not touched


def test_project_migrations_round_trip_cleanly(database: Database) -> None:
    """Every app's migrations, Django's included: no false mismatch anywhere."""
    from django.db.migrations.loader import MigrationLoader

    labels = sorted(MigrationLoader(None).migrated_apps - {"migration_guard"})
    seen: list[MigrationResult] = []
    report = run_roundtrip("default", labels, observe=seen.append)

    assert seen == report.results
    assert report.ok, report.lines()
    statuses = {r.label: r.status for r in report.results}
    assert statuses.pop("orders.0002_uppercase_currency") == "irreversible"
    assert set(statuses.values()) == {"ok"}
    assert "accounts.0003_set_has_profile_picture" in statuses
    assert report.applied_only == 1  # migration_guard.0001_initial
    irreversible = report.irreversible[0]
    assert irreversible.error == "Raw Python operation has no reverse function"
    assert scratch_gone(database, report.where)
    assert database.tables() == set()


def test_narrowed_comparison_finds_what_the_full_one_finds(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = BADREVERSE
    narrow = run_roundtrip("default", ["scenario"])
    full = run_roundtrip("default", ["scenario"], narrow=False)
    assert [(r.label, r.status, r.changes) for r in narrow.results] == [
        (r.label, r.status, r.changes) for r in full.results
    ]
    assert all(r.tables is None for r in full.results)


def test_unknown_app_is_a_usage_error(database: Database) -> None:
    with pytest.raises(UsageError, match=r"No migrations for app\(s\) nope"):
        run_roundtrip("default", ["nope"])
    assert not scratch._in_use(SCRATCH_ALIAS)


@pytest.mark.backends("postgresql", "mysql")
def test_existing_scratch_database_is_refused_not_clobbered(
    database: Database,
) -> None:
    taken = f"test_{database.name}"
    database.server.create(taken)
    try:
        with pytest.raises(UsageError) as caught:
            run_roundtrip("default", ["accounts"])
        assert f"Database '{taken}' already exists" in str(caught.value)
        assert taken in server_databases(database)  # left alone
    finally:
        database.server.drop(taken)


def test_interrupt_drops_the_scratch_database(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SIMPLE
    where: list[str] = []

    def interrupt(result: MigrationResult) -> None:
        where.append(database_of_scratch())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_roundtrip("default", ["scenario"], observe=interrupt)
    assert where and scratch_gone(database, where[0])


def test_sigterm_drops_the_scratch_database(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = SIMPLE
    where: list[str] = []
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(result: MigrationResult) -> None:
        where.append(database_of_scratch())
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SystemExit) as caught:
        run_roundtrip("default", ["scenario"], observe=terminate)
    assert caught.value.code == 128 + signal.SIGTERM
    assert where and scratch_gone(database, where[0])
    assert signal.getsignal(signal.SIGTERM) is previous


def database_of_scratch() -> str:
    settings = connections[SCRATCH_ALIAS].settings_dict
    if connections[SCRATCH_ALIAS].vendor == "sqlite":
        return f"temporary SQLite file {settings['NAME']}"
    return str(settings["NAME"])


def test_schema_changes_are_symmetric() -> None:
    from migration_guard.reconcile.schema import Table

    column = Column("extra", "IntegerField", True)
    before = {"t": Table("t", {"id": Column("id", "AutoField", False)})}
    after = {
        "t": Table("t", {"id": Column("id", "AutoField", False), "extra": column}),
        "u": Table("u", {"id": Column("id", "AutoField", False)}),
    }
    assert [str(c) for c in schema_changes(before, after)] == [
        "column t.extra left behind (IntegerField NULL)",
        "table u left behind (present)",
    ]
    assert [str(c) for c in schema_changes(after, before)] == [
        "column t.extra missing (was IntegerField NULL)",
        "table u missing (was present)",
    ]


def test_backward_step_that_raises_is_reported(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.failingreverse"}
    report = run_roundtrip("default", ["scenario"])
    first = report.results[0]
    assert (first.label, first.status, first.step) == (
        "scenario.0001_note",
        "error",
        "unapply",
    )
    assert "scenario_nothere" in first.error
    assert first.describe().startswith("unapply failed: ")
    if database.vendor == "mysql":  # DDL is not rolled back: the trip stops
        assert report.results[1].status == "not run"
        assert "left the database half-done" in report.stopped
    else:  # rolled back: it goes on from the migration applied
        assert report.results[1].status == "ok"
        assert report.stopped == ""
    assert scratch_gone(database, report.where)
