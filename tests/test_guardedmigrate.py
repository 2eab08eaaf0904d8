"""``guardedmigrate`` against real databases, compared with Django's ``migrate``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.commands import migrate as django_migrate
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import post_migrate, pre_migrate

from migration_guard.exceptions import (
    CheckFailed,
    MigrationFailed,
    RestoreFailed,
    UsageError,
)
from migration_guard.models import MigrationRun
from migration_guard.run.locking import migration_lock
from tests.conftest import TESTPROJECT, Database

FAILING = {"scenario": "tests.scenarios.failing"}
SIMPLE = {"scenario": "tests.scenarios.simple"}


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def ledger(db: Database) -> list[MigrationRun]:
    return list(MigrationRun.objects.using(db.alias).order_by("id"))


def test_applies_the_same_schema_and_rows_as_migrate(
    make_database: Callable[..., Database],
) -> None:
    plain = make_database()
    migrate_out = run("migrate")
    plain_schema, plain_rows = plain.schema(), plain.migration_rows()

    safe = make_database()
    safe_out = run("guardedmigrate")

    assert safe.schema() == plain_schema
    assert safe.migration_rows() == plain_rows
    assert ("orders", "0003_order_status") in plain_rows
    # the backup, then migrate's own output line for line, then the ledger line
    lines = safe_out.splitlines()
    assert lines[0] == "Backing up database:"
    assert lines[1].startswith("  default-") and "sha256 verified" in lines[1]
    assert lines[2:-1] == migrate_out.splitlines()
    assert lines[-1].startswith("Ledger: run 1 recorded (success, ")


def test_signals_fire_exactly_as_under_migrate(
    make_database: Callable[..., Database],
) -> None:
    calls: list[tuple[Any, ...]] = []

    def receiver(signal: Any, sender: Any, **kwargs: Any) -> None:
        plan = [(m.app_label, m.name, backwards) for m, backwards in kwargs["plan"]]
        calls.append(
            (
                "pre" if signal is pre_migrate else "post",
                sender.label,
                kwargs["verbosity"],
                kwargs["interactive"],
                kwargs["using"],
                tuple(plan),
                sorted(m._meta.label for m in kwargs["apps"].get_models()),
            )
        )

    pre_migrate.connect(receiver, dispatch_uid="test-pre")
    post_migrate.connect(receiver, dispatch_uid="test-post")
    try:
        make_database()
        run("migrate", verbosity=0, interactive=False)
        under_migrate, calls[:] = list(calls), []
        make_database()
        run("guardedmigrate", verbosity=0, interactive=False)
        assert calls == under_migrate
        assert {call[0] for call in calls} == {"pre", "post"}
        # and with nothing to do
        calls.clear()
        run("migrate", verbosity=0, interactive=False)
        noop_migrate, calls[:] = list(calls), []
        run("guardedmigrate", verbosity=0, interactive=False)
        assert calls == noop_migrate
    finally:
        pre_migrate.disconnect(dispatch_uid="test-pre")
        post_migrate.disconnect(dispatch_uid="test-post")


def test_ledger_records_the_run(database: Database) -> None:
    run("guardedmigrate", verbosity=0)
    (first,) = ledger(database)
    executor = MigrationExecutor(database.connection)
    assert first.outcome == "success"
    assert first.direction == "forwards"
    assert first.alias == "default"
    assert first.vendor == database.vendor
    assert first.applied_before == []
    assert first.user and first.host
    assert first.finished_at is not None and first.finished_at >= first.started_at
    applied = {f"{a}.{n}" for a, n in executor.loader.applied_migrations}
    assert {f"{s['app']}.{s['name']}" for s in first.plan} == applied
    assert [(e["app"], e["name"]) for e in first.executed] == [
        (s["app"], s["name"]) for s in first.plan
    ]
    assert all(e["action"] == "applied" and not e["fake"] for e in first.executed)

    run("guardedmigrate", verbosity=0)
    second = ledger(database)[1]
    assert (second.outcome, second.direction, second.plan, second.executed) == (
        "noop",
        "none",
        [],
        [],
    )
    assert sorted(second.applied_before) == sorted(applied)


def test_first_deploy_records_before_guardedmigrate_is_migrated(
    make_database: Callable[..., Database],
) -> None:
    db = make_database()
    run("guardedmigrate", "auth", verbosity=0)
    assert ("migration_guard", "0001_initial") not in db.migration_rows()
    assert [r.outcome for r in ledger(db)] == ["success"]
    run(
        "guardedmigrate", verbosity=0
    )  # applies migration_guard.0001 over the existing table
    assert ("migration_guard", "0001_initial") in db.migration_rows()
    assert [r.outcome for r in ledger(db)] == ["success", "success"]

    reference = make_database()
    run("migrate", verbosity=0)
    expected = reference.schema()
    db.activate()
    assert db.schema() == expected


def test_check_exits_2_and_never_writes(database: Database) -> None:
    with pytest.raises(CheckFailed) as caught:
        run("guardedmigrate", check_unapplied=True)
    assert caught.value.returncode == 2
    assert str(caught.value).startswith(
        "31 migrations to apply on database 'default': contenttypes.0001_initial, "
    )
    assert str(caught.value).endswith(
        " and 21 more. 'manage.py guardedmigrate --plan' shows them all."
    )
    assert database.tables() == set()

    run("guardedmigrate", verbosity=0)
    runs = len(ledger(database))
    assert run("guardedmigrate", check_unapplied=True) == ""
    assert len(ledger(database)) == runs


def test_plan_prints_migrates_plan_and_never_writes(
    make_database: Callable[..., Database],
) -> None:
    db = make_database()
    expected = run("migrate", plan=True)
    assert run("guardedmigrate", plan=True) == expected
    assert "Planned operations:" in expected
    assert db.tables() == set()
    with pytest.raises(CheckFailed):
        run("guardedmigrate", plan=True, check_unapplied=True)
    assert db.tables() == set()


def test_backward_plan_matches_migrate(make_database: Callable[..., Database]) -> None:
    db = make_database()
    run("guardedmigrate", verbosity=0)
    expected = run("migrate", "catalog", "0001", plan=True)
    assert run("guardedmigrate", "catalog", "0001", plan=True) == expected
    run("guardedmigrate", "catalog", "0001", verbosity=0, interactive=False)
    rows = db.migration_rows()
    assert ("catalog", "0001_initial") in rows
    assert ("catalog", "0002_default_category") not in rows
    assert ("orders", "0003_order_status") not in rows  # depends on catalog.0003
    last = ledger(db)[-1]
    assert last.direction == "backwards"
    assert [(e["name"], e["action"]) for e in last.executed] == [
        ("0003_order_status", "unapplied"),
        ("0003_delete_legacyprice", "unapplied"),
        ("0002_default_category", "unapplied"),
    ]


def test_json_is_one_document(database: Database) -> None:
    out = run("guardedmigrate", format="json")
    document = json.loads(out)
    assert document["outcome"] == "success"
    assert document["id"] == ledger(database)[0].pk
    assert len(document["plan"]) == len(document["executed"]) > 20
    assert document["applied"][0] == "contenttypes.0001_initial"
    assert document["duration"] > 0
    assert document["seconds"] > 0
    assert any("Applying orders.0001_initial... OK" in line for line in document["log"])

    again = json.loads(run("guardedmigrate", format="json"))
    assert (again["outcome"], again["plan"]) == ("noop", [])

    pending = json.loads(run("guardedmigrate", plan=True, format="json"))
    assert pending == {**pending, "outcome": "clean", "plan": []}


@pytest.mark.parametrize(
    ("args", "options", "expected"),
    [
        (("nosuchapp",), {}, "No installed app with label 'nosuchapp'. Apps with"),
        (
            ("catalog", "0009"),
            {},
            "Cannot find a migration matching '0009' from app "
            "'catalog'. Its migrations: 0001_initial, 0002_default_category, "
            "0003_delete_legacyprice",
        ),
        (
            ("accounts", "000"),
            {},
            "More than one migration matches '000' in app "
            "'accounts': 0001_initial, 0002_userprofile_has_profile_picture, "
            "0003_set_has_profile_picture, 0004_remove_userprofile_nickname. "
            "Please be more specific.",
        ),
        (
            (),
            {"database": "nosuchdb"},
            "Database alias 'nosuchdb' is not defined in "
            "settings.DATABASES (defined: default)",
        ),
    ],
)
def test_bad_input_is_a_usage_error_and_changes_nothing(
    database: Database, args: tuple[str, ...], options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        run("guardedmigrate", *args, **options)
    assert caught.value.returncode == 1
    assert expected in str(caught.value)
    assert database.tables() == set()


def test_bad_input_from_the_command_line(database: Database) -> None:
    result = database.manage("guardedmigrate", "catalog", "0009")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "UsageError: Cannot find a migration matching '0009' from app 'catalog'. "
        "Its migrations: 0001_initial, 0002_default_category, "
        "0003_delete_legacyprice (or 'zero' to unapply all)."
    ]
    assert database.tables() == set()
    result = database.manage("guardedmigrate", "--lock-timeout", "soon")
    assert result.returncode == 1
    assert "argument --lock-timeout: 'soon' is not a number of seconds" in result.stderr


def _widget_columns(database: Database) -> set[str]:
    with database.connection.cursor() as cursor:
        return {
            c.name
            for c in database.connection.introspection.get_table_description(
                cursor, "scenario_widget"
            )
        }


def test_failing_migration_is_recorded(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = FAILING
    run("guardedmigrate", "scenario", "0001", verbosity=0)
    with pytest.raises(MigrationFailed) as caught:
        run("guardedmigrate", "scenario", verbosity=0)
    message = str(caught.value)
    assert caught.value.returncode == 6
    assert message.startswith(
        "Migration scenario.0002_add_columns_then_fail failed on database 'default': "
        "RuntimeError: boom: scenario migration failed on purpose."
    )
    failed = ledger(database)[-1]
    assert "RuntimeError: boom" in failed.error
    assert failed.executed == []
    assert ("scenario", "0002_add_columns_then_fail") not in database.migration_rows()
    assert _widget_columns(database) == {"id", "name"}
    if database.vendor == "mysql":
        # MariaDB cannot roll back DDL: the pre-run backup was restored
        assert failed.outcome == "restored"
        assert "(mysql cannot roll back DDL)" in message
        assert f"restored from backup {failed.backup_id}" in message
    else:
        assert failed.outcome == "failed"
        assert "The database rolled the migration back." in message


def test_failure_without_backup_where_ddl_stays(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = FAILING
    run("guardedmigrate", "scenario", "0001", verbosity=0)
    expected = RestoreFailed if database.vendor == "mysql" else MigrationFailed
    with pytest.raises(expected) as caught:
        run("guardedmigrate", "scenario", verbosity=0, no_backup=True)
    failed = ledger(database)[-1]
    if database.vendor == "mysql":
        assert caught.value.returncode == 7
        assert failed.outcome == "restore_failed"
        assert {"color", "weight"} <= _widget_columns(database)  # the DDL stayed
        assert "No backup of this run exists to restore (--no-backup)." in str(
            caught.value
        )
    else:
        assert caught.value.returncode == 6
        assert _widget_columns(database) == {"id", "name"}


def test_failure_after_earlier_migrations_names_them(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = FAILING
    with pytest.raises(MigrationFailed) as caught:
        run("guardedmigrate", "scenario", verbosity=0)
    (failed,) = ledger(database)
    assert [e["name"] for e in failed.executed] == ["0001_initial"]
    if database.vendor == "mysql":  # restored: the whole run is undone
        assert "to its state before the run" in str(caught.value)
        assert database.migration_rows() == []
    else:
        assert "Migrations done earlier in this run stay done: " in str(caught.value)
        assert "scenario.0001_initial" in str(caught.value)
        assert database.migration_rows()[-1] == ("scenario", "0001_initial")


def test_django_migrate_and_test_databases_are_untouched(database: Database) -> None:
    import migration_guard.management.commands.guardedmigrate  # noqa: F401

    run("guardedmigrate", verbosity=0)
    assert django_migrate.MigrationExecutor is MigrationExecutor
    # the test runner builds test databases with plain migrate: no ledger rows
    connection = database.connection
    original_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        assert MigrationRun.objects.using(database.alias).count() == 0
        assert "migration_guard_migrationrun" in database.tables()
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
        connection.close()  # SQLite keeps its in-memory test database open
    assert test_name != original_name
    assert len(ledger(database)) == 1


def _spawn(db: Database, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(TESTPROJECT / "manage.py"), "guardedmigrate", *args],
        env=db.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_apply_once(database: Database) -> None:
    with migration_lock(database.alias, timeout=10):
        first, second = _spawn(database), _spawn(database)
        time.sleep(2)  # both start and block on the lock held here
        assert first.poll() is None and second.poll() is None
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    outputs = sorted(out for out, _ in results)
    assert sum("Applying orders.0001_initial... OK" in out for out in outputs) == 1
    assert sum("No migrations to apply." in out for out in outputs) == 1
    rows = database.migration_rows()
    assert len(rows) == len(set(rows)) > 20
    assert sorted(run.outcome for run in ledger(database)) == ["noop", "success"]


def test_lock_timeout_exits_3(database: Database) -> None:
    with migration_lock(database.alias, timeout=10):
        result = database.manage("guardedmigrate", "--lock-timeout", "1")
    assert result.returncode == 3
    assert "Could not take the migration lock of database 'default' within 1s" in (
        result.stderr
    )
    assert database.tables() == set()


def test_inconsistent_history_is_a_usage_error(database: Database) -> None:
    run("guardedmigrate", verbosity=0, no_backup=True)
    database.query(
        "DELETE FROM django_migrations WHERE app = 'catalog' AND name = '0001_initial'"
    )
    with pytest.raises(UsageError) as caught:
        run("guardedmigrate", verbosity=0)
    assert str(caught.value).startswith(
        "Migration catalog.0002_default_category is applied before its dependency "
        "catalog.0001_initial on database 'default'."
    ) or "is applied before its dependency catalog.0001_initial" in str(caught.value)
    assert len(ledger(database)) == 1  # refused before the run was recorded


def test_json_is_one_document_on_errors_and_prompts(database: Database) -> None:
    out = io.StringIO()
    with pytest.raises(UsageError):
        call_command("guardedmigrate", "nosuchapp", format="json", stdout=out)
    document = json.loads(out.getvalue())
    assert (document["outcome"], document["exit_code"]) == ("error", 1)
    assert document["message"].startswith("No installed app with label 'nosuchapp'.")

    run("guardedmigrate", verbosity=0, no_backup=True)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(UsageError, match="Cancelled"):
        call_command(
            "guardedmigrate", "catalog", "0001", format="json", stdout=out, stderr=err
        )
    assert json.loads(out.getvalue())["outcome"] == "error"
    assert "Rollback plan for database 'default'" in err.getvalue()
    assert "Unapply 3 migrations? Type 'yes' to continue [No]: " in err.getvalue()
