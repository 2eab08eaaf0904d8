"""``guardedmigrate --rehearse``: the plan and its revert on a copy, three backends."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from migration_guard.backup.storage import get_store
from migration_guard.exceptions import CheckFailed, RunInterrupted, UsageError
from migration_guard.gates import rehearse
from migration_guard.testing import scratch
from tests.conftest import Database

FAILING = {"scenario": "tests.scenarios.failing"}
SCRATCH_ALIAS = "default" + scratch.SUFFIX


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("guardedmigrate", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    return db.query(f"SELECT * FROM {db.connection.ops.quote_name(table)} ORDER BY id")


def state(db: Database) -> tuple[Any, ...]:
    """Everything a rehearsal must leave as it was: rows in full, and the schema."""
    tables = db.tables()
    watched = ("django_migrations", "migration_guard_migrationrun", "orders_order")
    return (
        [rows(db, table) for table in watched if table in tables],
        db.schema(),
    )


def leftovers(db: Database, where: str) -> list[str]:
    """Scratch databases still there, and the scratch alias if it is."""
    found = [SCRATCH_ALIAS] if scratch._in_use(SCRATCH_ALIAS) else []
    if db.vendor == "sqlite":
        path = where.removeprefix("temporary SQLite file ")
        return found + ([path] if Path(path).exists() else [])
    if db.vendor == "postgresql":
        sql = "SELECT datname FROM pg_database WHERE datname = %s"
    else:
        sql = (
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
        )
    return found + [row[0] for row in db.query(sql, [f"test_{db.name}"])]


@pytest.fixture
def with_data(database: Database) -> Database:
    """Everything applied but orders.0003 (unapplied), an order, two runs."""
    run(verbosity=0)
    run("orders", "0002", verbosity=0, interactive=False)
    executor = MigrationExecutor(database.connection)
    old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
    user = old.get_model("auth", "User").objects.create(username="ann")
    profile = old.get_model("accounts", "UserProfile").objects.create(user=user)
    old.get_model("orders", "Order").objects.create(
        number="A-1", customer=profile, placed_at=timezone.now()
    )
    assert len(rows(database, "orders_order")) == 1
    return database


def test_rehearsal_times_each_migration_and_changes_nothing(
    with_data: Database, backup_dir: Path
) -> None:
    db = with_data
    before = state(db)
    backups = get_store().manifests()

    document = json.loads(run(rehearse=True, format="json"))

    assert state(db) == before  # rows of django_migrations, ledger, data, schema
    assert get_store().manifests() == backups  # nothing added to the catalogue
    assert document["outcome"] == "success"
    assert document["rehearsal"] is True
    assert [(e["app"], e["name"], e["action"]) for e in document["executed"]] == [
        ("orders", "0003_order_status", "applied")
    ]
    assert all(e["seconds"] > 0 for e in document["executed"])
    revert = document["revert"]
    assert revert["status"] == "done"
    assert [(e["name"], e["action"]) for e in revert["executed"]] == [
        ("0003_order_status", "unapplied")
    ]
    assert revert["differences"] == []
    # the preview was measured on the copy, which has the order
    (risk,) = revert["preview"]["data_at_risk"]
    assert risk == {
        "kind": "column",
        "table": "orders_order",
        "column": "status",
        "count": 1,
    }
    assert document["backup"]["size"] > 0
    assert leftovers(db, document["copy"]) == []


def test_rehearsal_text_output(with_data: Database) -> None:
    out = run(rehearse=True)
    lines = out.splitlines()
    assert lines[0] == (
        "Rehearsal on a copy of database 'default' (nothing on it changes):"
    )
    assert any(
        line.startswith("  Applying orders.0003_order_status... OK (") for line in lines
    )
    assert any(
        line.startswith("  Unapplying orders.0003_order_status... OK (")
        for line in lines
    )
    assert "Revert preview (on the copy):" in lines
    assert "  Schema of the copy: as before the plan." in lines
    assert lines[-2] == (
        "Database 'default' unchanged: django_migrations: "
        f"{len(rows(with_data, 'django_migrations'))} rows, ledger: 2 rows, "
        f"schema: {len(with_data.tables())} tables as before."
    )
    assert lines[-1].startswith("Rehearsal OK: 1 migration in ")


def test_irreversible_revert_is_reported_not_run(database: Database) -> None:
    run("orders", "0001", verbosity=0)
    before = state(database)
    document = json.loads(run("orders", rehearse=True, format="json"))
    assert state(database) == before
    executed = [f"{e['app']}.{e['name']}" for e in document["executed"]]
    assert sorted(executed) == sorted(
        f"{p['app']}.{p['name']}" for p in document["plan"]
    )
    assert "orders.0002_uppercase_currency" in executed
    assert document["revert"]["status"] == "irreversible"
    assert document["revert"]["executed"] == []
    assert document["revert"]["note"].startswith(
        "not rehearsed: orders.0002_uppercase_currency cannot be unapplied"
    )
    assert document["outcome"] == "success"


def test_failing_migration_fails_the_rehearsal_only(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = FAILING
    run("scenario", "0001", verbosity=0)
    before = state(database)
    out = io.StringIO()
    with pytest.raises(CheckFailed) as caught:
        call_command(
            "guardedmigrate", "scenario", rehearse=True, format="json", stdout=out
        )
    assert caught.value.returncode == 2
    assert "scenario.0002_add_columns_then_fail failed on the copy" in str(caught.value)
    document = json.loads(out.getvalue())
    assert document["outcome"] == "failed"
    assert document["failed_migration"] == "scenario.0002_add_columns_then_fail"
    assert "boom" in document["error"]
    assert state(database) == before
    assert leftovers(database, document["copy"]) == []


def test_interrupted_rehearsal_drops_the_copy(
    with_data: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state(with_data)
    seen: list[str] = []

    def interrupted(*args: Any, **kwargs: Any) -> None:
        seen.append(connections[SCRATCH_ALIAS].settings_dict["NAME"])
        raise KeyboardInterrupt

    monkeypatch.setattr(rehearse, "execute_plan", interrupted)
    with pytest.raises(RunInterrupted) as caught:  # Ctrl-C: exit 130
        run(rehearse=True, verbosity=0)
    assert caught.value.returncode == 130
    assert seen
    where = f"temporary SQLite file {seen[0]}" if with_data.vendor == "sqlite" else ""
    assert leftovers(with_data, where) == []
    assert state(with_data) == before


def test_nothing_to_rehearse(database: Database) -> None:
    run(verbosity=0)
    document = json.loads(run(rehearse=True, format="json"))
    assert document["outcome"] == "noop"
    assert document["plan"] == []


@pytest.mark.backends("sqlite")
def test_rehearse_refuses_writing_options(database: Database) -> None:
    with pytest.raises(UsageError, match="does not go with --fake"):
        run(rehearse=True, fake=True)


def test_backward_plan_is_rehearsed_and_applied_again(database: Database) -> None:
    run(verbosity=0)
    before = state(database)
    document = json.loads(run("accounts", "0002", rehearse=True, format="json"))
    assert state(database) == before
    assert document["direction"] == "backwards"
    assert [(e["name"], e["action"]) for e in document["executed"]] == [
        ("0004_remove_userprofile_nickname", "unapplied"),
        ("0003_set_has_profile_picture", "unapplied"),
    ]
    assert [m["name"] for m in document["revert"]["preview"]["migrations"]] == [
        "0004_remove_userprofile_nickname",
        "0003_set_has_profile_picture",
    ]
    revert = document["revert"]
    assert (revert["status"], revert["differences"]) == ("done", [])
    assert [(e["name"], e["action"]) for e in revert["executed"]] == [
        ("0003_set_has_profile_picture", "applied"),
        ("0004_remove_userprofile_nickname", "applied"),
    ]


@pytest.mark.backends("sqlite", "postgresql")
def test_irreversible_backward_plan_fails_the_rehearsal(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.sdas"}
    run("scenario", verbosity=0)
    before = state(database)
    with pytest.raises(CheckFailed) as caught:
        run("scenario", "0002", rehearse=True, verbosity=0)
    assert "scenario.0003_hidden_irreversible cannot be unapplied" in str(caught.value)
    assert state(database) == before
