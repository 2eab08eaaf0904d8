"""``reconcile`` repairs histories: inconsistent ones, squashed migrations.

An app's records deleted while another app's applied migration depends on
it is what Django calls an ``InconsistentMigrationHistory``: ``reconcile``
reports it and ``reconcile --fake`` records the verified dependencies. The
rows it writes for squashed migrations are the rows ``migrate`` writes,
compared with a twin database migrated by Django.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.exceptions import UsageError
from migration_guard.models import MigrationRun
from tests.conftest import Database

SQUASHED = {"scenario": "tests.scenarios.reconcile_squashed"}
SQUASH_ONLY = {"scenario": "tests.scenarios.squash_only"}


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def delete_app(db: Database, app: str) -> None:
    db.query("DELETE FROM django_migrations WHERE app = %s", [app])


def rows(db: Database, app: str | None = None) -> set[tuple[str, str]]:
    return {row for row in db.migration_rows() if app is None or row[0] == app}


CONTENTTYPES_GAPS = [
    "  admin.0001_initial is applied before its dependency contenttypes.0001_initial",
    "  auth.0001_initial is applied before its dependency contenttypes.0001_initial",
    "  auth.0006_require_contenttypes_0002 is applied before its dependency "
    "contenttypes.0002_remove_content_type_name",
    "  auth.0011_update_proxy_permissions is applied before its dependency "
    "contenttypes.0002_remove_content_type_name",
]


def test_inconsistent_history_is_reported_not_refused(database: Database) -> None:
    run("migrate", verbosity=0)
    delete_app(database, "contenttypes")
    before = rows(database)

    result = database.manage("reconcile")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index(
        "Inconsistent history: 4 applied migrations depend on migrations that are "
        "not recorded (migrate refuses to run):"
    )
    assert lines[at + 1 : at + 6] == [
        *CONTENTTYPES_GAPS,
        "Run 'manage.py reconcile --fake' to record the dependencies the schema "
        "verifies.",
    ]
    assert "  [ ] 0001_initial" in result.stdout
    document = json.loads(run("reconcile", "contenttypes", format="json"))
    assert {m["name"]: m["status"] for m in document["migrations"]} == {
        "0001_initial": "fakeable",
        "0002_remove_content_type_name": "fakeable",
    }
    assert document["inconsistent"][0] == {
        "migration": "admin.0001_initial",
        "dependency": "contenttypes.0001_initial",
    }
    assert (len(document["inconsistent"]), document["outcome"]) == (4, "inconsistent")

    result = database.manage("reconcile", "--check")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "CheckFailed: The history of database 'default' is inconsistent: "
        "admin.0001_initial is applied before its dependency "
        "contenttypes.0001_initial (and 3 more). Run 'manage.py reconcile --fake' "
        "to record the dependencies the schema verifies."
    )
    assert rows(database) == before
    assert not MigrationRun.objects.exists()


def test_guardedmigrate_names_the_command_that_repairs_the_history(
    database: Database,
) -> None:
    run("migrate", verbosity=0)
    delete_app(database, "contenttypes")
    with pytest.raises(UsageError) as caught:
        run("guardedmigrate", verbosity=0)
    assert str(caught.value) == (
        "Migration admin.0001_initial is applied before its dependency "
        "contenttypes.0001_initial on database 'default'. Run 'manage.py reconcile "
        "--fake' to record the dependencies whose effects the schema verifies "
        "('manage.py reconcile' lists them), or unapply the dependent migration "
        "first."
    )


def test_fake_records_the_verified_dependencies(database: Database) -> None:
    run("migrate", verbosity=0)
    everything = rows(database)
    delete_app(database, "contenttypes")

    # one migration named: recorded, the history is still inconsistent
    result = database.manage("reconcile", "contenttypes", "0001", "--fake")
    assert result.returncode == 0, result.stderr
    assert "  contenttypes.0001_initial... FAKED (verified)\n" in result.stdout
    assert result.stdout.split("Ledger:")[0].splitlines()[-3:] == [
        "Still inconsistent history: 2 applied migrations depend on migrations "
        "that are not recorded (migrate refuses to run):",
        *CONTENTTYPES_GAPS[2:],
    ]
    assert rows(database) == everything - {
        ("contenttypes", "0002_remove_content_type_name")
    }

    # the app: the rest is recorded, and migrate runs again
    result = database.manage("reconcile", "contenttypes", "--fake")
    assert result.returncode == 0, result.stderr
    assert (
        "  contenttypes.0002_remove_content_type_name... FAKED (verified)\n"
        "History: consistent now.\n"
    ) in result.stdout
    assert rows(database) == everything
    result = database.manage("guardedmigrate")
    assert result.returncode == 0, result.stderr
    assert "  No migrations to apply.\n" in result.stdout


def test_fake_never_records_an_unverified_dependency(database: Database) -> None:
    run("migrate", verbosity=0)
    everything = rows(database)
    delete_app(database, "catalog")  # orders depends on it; 0002 only runs SQL

    result = database.manage("reconcile", "--fake")
    assert result.returncode == 0, result.stderr
    assert "  catalog.0001_initial... FAKED (verified)\n" in result.stdout
    assert (
        "  catalog.0002_default_category: runs code only: Raw SQL operation; "
        "--force-fake --reason records it\n"
    ) in result.stdout
    assert (
        "  orders.0003_order_status is applied before its dependency "
        "catalog.0003_delete_legacyprice\nLedger:"
    ) in result.stdout
    assert rows(database, "catalog") == {("catalog", "0001_initial")}

    reason = "the default category is there"
    result = database.manage("reconcile", "--fake", "--force-fake", "--reason", reason)
    assert result.returncode == 0, result.stderr
    assert "History: consistent now.\n" in result.stdout
    assert rows(database) == everything
    assert MigrationRun.objects.order_by("id").last().executed[0]["reason"] == reason


# --- squashed migrations: the rows migrate writes ------------------------------


@pytest.mark.parametrize("modules", [SQUASHED, SQUASH_ONLY], ids=["both", "squash"])
def test_refaked_squash_writes_the_rows_migrate_writes(
    make_database: Callable[..., Database], settings: Any, modules: dict[str, str]
) -> None:
    settings.MIGRATION_MODULES = modules
    db = make_database()
    twin = make_database(alias="twin")
    for alias in ("default", "twin"):
        run("migrate", "scenario", database=alias, verbosity=0)
    written = rows(twin, "scenario")
    assert ("scenario", "0001_squashed_0002_shelf_width") in written
    assert ("scenario", "0002_shelf_width") in written

    delete_app(db, "scenario")
    run("reconcile", "scenario", fake=True)
    assert rows(db, "scenario") == written

    # records whose effects are gone: unfaked as migrate unapplies them
    run("migrate", "scenario", "zero", verbosity=0)
    for name in sorted(written):
        db.query(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('scenario', %s, CURRENT_TIMESTAMP)",
            [name[1]],
        )
    run("reconcile", "scenario", unfake=True)
    run("migrate", "scenario", "zero", database="twin", verbosity=0)
    assert rows(db, "scenario") == rows(twin, "scenario") == set()


def test_half_recorded_squash_is_completed_as_migrate_completes_it(
    make_database: Callable[..., Database], settings: Any
) -> None:
    settings.MIGRATION_MODULES = SQUASHED
    db = make_database()
    twin = make_database(alias="twin")
    for each in (db, twin):
        run("migrate", "scenario", database=each.alias, verbosity=0)
        each.query(
            "DELETE FROM django_migrations WHERE app = 'scenario' "
            "AND name != '0001_initial'"
        )
    run("reconcile", "scenario", fake=True)
    run("migrate", "scenario", database="twin", fake=True, verbosity=0)
    assert rows(db, "scenario") == rows(twin, "scenario")
    assert len(rows(db, "scenario")) == 4


# --- every command takes --noinput -------------------------------------------


def test_reconcile_takes_noinput(database: Database) -> None:
    run("migrate", verbosity=0)
    for flag in ("--noinput", "--no-input"):
        result = database.manage("reconcile", flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Reconciling database 'default'")
    for command, args in [
        ("reconcile", ["--fake"]),
        ("rollbackplan", ["catalog", "0002"]),
        ("checkmigrations", []),
        ("migrationhistory", []),
    ]:
        run(command, *args, "--no-input")
        run(command, *args, "--noinput")
