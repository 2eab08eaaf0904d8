"""``reconcile`` and guarded fakes against real databases.

A normally migrated database must reconcile clean (no false mismatch, for
every field type and schema operation, at every step), a record deleted by
hand is found as fakeable, a column dropped by hand is drift, records are
only removed when their effects are verified absent, and a legacy database
built from ``sqlmigrate`` output is brought to a fully recorded history.
Damage of each kind, refused one by one, is in
``tests/test_reconcile_verify.py``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

from migration_guard.exceptions import CheckFailed, VerificationRefused
from migration_guard.models import MigrationRun
from migration_guard.reconcile.schema.compare import compare_schemas
from migration_guard.reconcile.schema.expected import graph_order, project_schema
from migration_guard.reconcile.schema.introspect import snapshot
from migration_guard.reconcile.verdict import reconcile
from tests.conftest import Database

ALLFIELDS = {"scenario": "tests.scenarios.allfields"}
SQUASHED = {"scenario": "tests.scenarios.reconcile_squashed"}
UNDONE = {"scenario": "tests.scenarios.reconcile_undone"}
#: the testproject's and contrib apps' migrations that only run code
CODE_ONLY = [
    "auth.0011_update_proxy_permissions",
    "accounts.0003_set_has_profile_picture",
    "catalog.0002_default_category",
    "orders.0002_uppercase_currency",
]
STATUS_DRIFT = "column orders_order.status: missing (expected CharField(16) NOT NULL)"


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def refused(
    error: type[Exception], command: str, *args: str, **options: Any
) -> tuple[Any, str]:
    """Run a command that must fail with ``error``; the error and stdout."""
    out = io.StringIO()
    with pytest.raises(error) as caught:
        call_command(command, *args, stdout=out, no_color=True, **options)
    return caught.value, out.getvalue()


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {f"{m['app']}.{m['name']}": m["status"] for m in document["migrations"]}


def report(*args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run("reconcile", *args, format="json"))
    return document


def runs(db: Database) -> list[MigrationRun]:
    return list(MigrationRun.objects.using(db.alias).order_by("id"))


def recorded(entries: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Ledger entries cut down to ``keys`` (the checksum etc. left out)."""
    return [{key: entry.get(key) for key in keys} for entry in entries]


def delete_record(db: Database, app: str, name: str) -> None:
    db.query("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])


# --- zero false mismatches ---------------------------------------------------


def test_migrated_project_and_contrib_apps_reconcile_clean(database: Database) -> None:
    run("migrate", verbosity=0)
    connection = database.connection
    loader = MigrationLoader(connection)
    expected = project_schema(loader.project_state().apps, connection)
    assert {"auth_user", "django_site", "orders_order_tags"} <= set(expected)
    assert compare_schemas(expected, snapshot(connection)) == []

    document = report()
    applied = [key for key in statuses(document) if key not in CODE_ONLY]
    assert statuses(document) == {
        **dict.fromkeys(applied, "applied"),
        **dict.fromkeys(CODE_ONLY, "not verifiable"),
    }
    assert len(applied) == 27
    assert document["summary"] == {
        "applied": 27,
        "drift": 0,
        "fakeable": 0,
        "pending": 0,
        "partial": 0,
        "not verifiable": 4,
    }
    assert (document["outcome"], document["actions"], document["run"]) == (
        "clean",
        [],
        None,
    )

    result = database.manage("reconcile", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "Summary: 27 applied, 0 drift, 0 fakeable, 0 pending, 0 partial, "
        "4 not verifiable."
    )
    assert "  [X] 0003_set_has_profile_picture" in result.stdout
    assert runs(database) == []  # reading writes nothing


def scenario_names() -> list[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return sorted(name for app, name in loader.disk_migrations if app == "scenario")


def test_every_field_and_operation_reconciles_clean_at_every_step(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = ALLFIELDS
    names = scenario_names()
    assert len(names) == 8
    run("migrate", verbosity=0)
    connection = database.connection
    final = MigrationLoader(connection).project_state()
    expected = project_schema(final.apps, connection)
    scenario_tables = {
        "allfields_everything",
        "allfields_everything_friends",
        "allfields_everything_tags",
        "allfields_owners",
        "scenario_label",
    }
    # the proxy and the unmanaged model have no table to expect
    assert {n for n in expected if n.startswith(("allfields", "scenario"))} == (
        scenario_tables
    )
    assert "legacy_external" not in expected
    live = snapshot(connection)
    assert compare_schemas(expected, live) == []
    assert scenario_tables <= set(live)

    run("migrate", "scenario", "zero", verbosity=0)
    assert set(statuses(report("scenario")).values()) == {"pending"}
    for step, name in enumerate(names):
        run("migrate", "scenario", name, verbosity=0)
        loader = MigrationLoader(connection)
        state = loader.project_state(("scenario", name))
        assert (
            compare_schemas(
                project_schema(state.apps, connection), snapshot(connection)
            )
            == []
        )
        for unrecorded in (False, True):
            if unrecorded:
                database.query("DELETE FROM django_migrations WHERE app = 'scenario'")
            done = "fakeable" if unrecorded else "applied"
            assert statuses(report("scenario")) == {
                f"scenario.{n}": done if i <= step else "pending"
                for i, n in enumerate(names)
            }, name
        run("migrate", "scenario", name, fake=True, verbosity=0)
    result = reconcile(MigrationLoader(connection), connection)
    assert {v.status for v in result.verdicts} == {"applied", "not verifiable"}


# --- records deleted by hand, columns dropped by hand ----------------------


def test_deleted_record_is_fakeable_and_faked_verified(database: Database) -> None:
    run("migrate", verbosity=0)
    rows = database.migration_rows()
    delete_record(database, "orders", "0003_order_status")
    delete_record(database, "sessions", "0001_initial")
    document = report()
    assert {k: v for k, v in statuses(document).items() if v != "applied"} == {
        "orders.0003_order_status": "fakeable",
        "sessions.0001_initial": "fakeable",
        **dict.fromkeys(CODE_ONLY, "not verifiable"),
    }
    assert (document["summary"]["fakeable"], document["outcome"]) == (2, "clean")

    result = database.manage("reconcile", "--fake", "orders")
    assert result.returncode == 0, result.stderr
    assert "  orders.0003_order_status... FAKED (verified)\n" in result.stdout
    assert ("orders", "0003_order_status") in database.migration_rows()
    assert ("sessions", "0001_initial") not in database.migration_rows()
    (first,) = runs(database)
    assert (first.command, first.fake, first.outcome, first.direction) == (
        "reconcile",
        True,
        "success",
        "forwards",
    )
    assert recorded(
        first.executed, "app", "name", "action", "fake", "verification"
    ) == [
        {
            "app": "orders",
            "name": "0003_order_status",
            "action": "applied",
            "fake": True,
            "verification": "verified",
        }
    ]

    result = database.manage("guardedmigrate", "--fake-initial")
    assert result.returncode == 0, result.stderr
    assert "  Applying sessions.0001_initial... FAKED\n" in result.stdout
    assert sorted(database.migration_rows()) == sorted(rows)
    second = runs(database)[-1]
    assert (second.command, second.outcome) == ("guardedmigrate", "success")
    assert recorded(second.executed, "name", "fake", "verification") == [
        {"name": "0001_initial", "fake": True, "verification": "verified"}
    ]


def test_squashed_migrations_are_faked_as_the_ones_they_replace(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SQUASHED
    run("migrate", "scenario", verbosity=0)
    assert statuses(report("scenario")) == {
        "scenario.0001_squashed_0002_shelf_width": "applied",
        "scenario.0003_shelf_depth": "applied",
    }
    database.query("DELETE FROM django_migrations WHERE app = 'scenario'")
    assert set(statuses(report("scenario")).values()) == {"fakeable"}
    run("reconcile", "scenario", fake=True)
    assert database.migration_rows() == [
        ("scenario", "0001_initial"),
        ("scenario", "0002_shelf_width"),
        ("scenario", "0001_squashed_0002_shelf_width"),
        ("scenario", "0003_shelf_depth"),
    ]
    assert set(statuses(report("scenario")).values()) == {"applied"}

    # half of the squashed history recorded: the replaced migrations count
    database.query(
        "DELETE FROM django_migrations WHERE app = 'scenario' AND name != %s",
        ["0001_initial"],
    )
    assert statuses(report("scenario")) == {
        "scenario.0001_initial": "applied",
        "scenario.0002_shelf_width": "fakeable",
        "scenario.0003_shelf_depth": "fakeable",
    }
    out = run("guardedmigrate", "scenario", fake=True, no_backup=True)
    assert "  Applying scenario.0002_shelf_width... FAKED\n" in out
    assert [(e["name"], e["verification"]) for e in runs(database)[-1].executed] == [
        ("0002_shelf_width", "verified"),
        ("0003_shelf_depth", "verified"),
    ]


def test_effects_undone_later_are_told_by_the_graph(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = UNDONE
    names = scenario_names()
    unknown = "not verifiable"
    expect = {
        # migrated to: statuses as recorded, then with the records deleted
        "0001_initial": (
            ["applied", unknown, unknown, "pending"],
            ["fakeable", unknown, unknown, "pending"],
        ),
        "0002_box_scratch": (
            ["applied", "applied", "pending", "pending"],
            ["fakeable", "fakeable", "pending", "pending"],
        ),
        "0004_box_size": (["applied"] * 4, ["fakeable"] * 4),
    }
    for target, (as_recorded, unrecorded) in expect.items():
        run("migrate", "scenario", target, verbosity=0)
        assert list(statuses(report("scenario")).values()) == as_recorded, target
        database.query("DELETE FROM django_migrations WHERE app = 'scenario'")
        assert list(statuses(report("scenario")).values()) == unrecorded, target
        run("migrate", "scenario", target, fake=True, verbosity=0)

    # the scratch column's migrations are verified through 0004 and faked
    database.query("DELETE FROM django_migrations WHERE app = 'scenario'")
    run("reconcile", "scenario", fake=True)
    assert database.migration_rows() == [("scenario", name) for name in names]
    assert {e["verification"] for e in runs(database)[-1].executed} == {"verified"}


def test_dropped_column_is_drift_and_is_never_faked(database: Database) -> None:
    run("migrate", verbosity=0)
    database.query("ALTER TABLE orders_order DROP COLUMN status")
    result = database.manage("reconcile", "--check")
    assert result.returncode == 2
    assert result.stderr.endswith(
        "CheckFailed: 1 migration on database 'default' does not match the "
        "schema: orders.0003_order_status.\n"
    )
    assert re.search(
        r"\n  \[X\] 0003_order_status +applied, effects missing \(drift\)\n"
        f"        {re.escape(STATUS_DRIFT)}\n",
        result.stdout,
    )
    assert result.stdout.splitlines()[-1] == (
        "Summary: 26 applied, 1 drift, 0 fakeable, 0 pending, 0 partial, "
        "4 not verifiable."
    )
    drift = report()
    (migration,) = [m for m in drift["migrations"] if m["status"] == "drift"]
    assert migration["differences"] == [
        {
            "element": ["column", "orders_order", "status"],
            "expected": "CharField(16) NOT NULL",
            "found": None,
            "message": STATUS_DRIFT,
        }
    ]
    assert drift["outcome"] == "drift"

    delete_record(database, "orders", "0003_order_status")
    rows = database.migration_rows()
    assert statuses(report())["orders.0003_order_status"] == "pending"
    result = database.manage("guardedmigrate", "--fake")
    assert result.returncode == 4
    assert result.stderr.endswith(
        "VerificationRefused: Refusing to record 1 migration as applied on "
        "database 'default'; nothing was changed.\n"
        f"  orders.0003_order_status: effects not present:\n    {STATUS_DRIFT}\n"
        "Fix the schema, run without --fake, or pass --force-fake --reason TEXT "
        "to record them anyway (the ledger keeps the reason and the differences).\n"
    )
    assert database.migration_rows() == rows
    (failed,) = runs(database)
    assert (failed.outcome, failed.executed, failed.backup_id) == ("failed", [], "")

    # applied for real, the column is back and the history is clean again
    result = database.manage("guardedmigrate", "--no-backup")
    assert result.returncode == 0, result.stderr
    assert "  Applying orders.0003_order_status... OK\n" in result.stdout
    assert report()["summary"]["drift"] == 0
    assert database.manage("reconcile", "--check").returncode == 0


def test_each_database_alias_is_reconciled_on_its_own(
    make_database: Callable[..., Database],
) -> None:
    default = make_database()
    run("migrate", verbosity=0)
    other = make_database("other")
    run("migrate", database="other", verbosity=0)
    other.query("ALTER TABLE orders_order DROP COLUMN status")

    assert report()["outcome"] == "clean"
    drifted = report("--database", "other")
    assert (drifted["database"], drifted["outcome"]) == ("other", "drift")
    assert statuses(drifted)["orders.0003_order_status"] == "drift"
    error, _ = refused(CheckFailed, "reconcile", database="other", check=True)
    assert str(error) == (
        "1 migration on database 'other' does not match the schema: "
        "orders.0003_order_status."
    )
    delete_record(other, "orders", "0003_order_status")
    error, _ = refused(
        VerificationRefused, "reconcile", "orders", "0003", database="other", fake=True
    )
    assert "Not recording orders.0003_order_status on database 'other': " in str(error)
    # recorded on the default database: nothing to do there (exit 0)
    out = run("reconcile", "orders", "0003", fake=True)
    assert "Recording as applied:\n  nothing verified to record\n" in out
    assert [(r.alias, r.outcome) for r in runs(default)] == [("default", "noop")]
    assert [(r.alias, r.outcome) for r in runs(other)] == [("other", "failed")]


def test_unfake_removes_only_records_verified_absent(database: Database) -> None:
    run("migrate", verbosity=0)
    rows = database.migration_rows()
    error, _ = refused(VerificationRefused, "reconcile", "orders", "0003", unfake=True)
    assert error.returncode == 4
    assert str(error) == (
        "Not unrecording orders.0003_order_status on database 'default': its "
        "effects are present.\n    column orders_order.status: expected absent, "
        "found CharField(16) NOT NULL\nNothing was changed."
    )
    assert database.migration_rows() == rows
    assert [(r.command, r.outcome) for r in runs(database)] == [("reconcile", "failed")]
    # nor does a backward --fake of migration_guard unrecord it
    error, _ = refused(
        VerificationRefused,
        "guardedmigrate",
        "orders",
        "0002",
        fake=True,
        interactive=False,
    )
    assert str(error).startswith(
        "Refusing to record 1 migration as unapplied on database 'default'; "
        "nothing was changed.\n  orders.0003_order_status: effects not absent:\n"
        "    column orders_order.status: expected absent, found CharField(16) "
        "NOT NULL\n"
    )
    assert database.migration_rows() == rows

    # unapplied for real, then recorded again by hand: drift, effects absent
    run("migrate", "orders", "0002", verbosity=0)
    database.query(
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('orders', '0003_order_status', %s)",
        ["2026-01-01 00:00:00"],
    )
    assert statuses(report())["orders.0003_order_status"] == "drift"
    result = database.manage("reconcile", "--unfake")
    assert result.returncode == 0, result.stderr
    assert "Recording as unapplied:\n  orders.0003_order_status... " in result.stdout
    assert ("orders", "0003_order_status") not in database.migration_rows()
    assert len(database.migration_rows()) == len(rows) - 1
    last = runs(database)[-1]
    assert (last.direction, last.outcome) == ("backwards", "success")
    assert recorded(last.executed, "app", "name", "action", "verification") == [
        {
            "app": "orders",
            "name": "0003_order_status",
            "action": "unapplied",
            "verification": "verified",
        }
    ]
    assert statuses(report())["orders.0003_order_status"] == "pending"
    # unrecording what is not recorded is nothing to do, not a refusal
    out = run("reconcile", "orders", "0003", unfake=True)
    assert "Recording as unapplied:\n  nothing verified to record\n" in out


# --- output and usage ----------------------------------------------------------


def test_json_is_exactly_one_document(database: Database) -> None:
    run("migrate", verbosity=0)
    delete_record(database, "sites", "0002_alter_domain_unique")
    result = database.manage("reconcile", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == [
        "database",
        "tables_read",
        "migrations",
        "summary",
        "actions",
        "run",
        "inconsistent",
        "outcome",
    ]
    (site,) = [
        m for m in document["migrations"] if m["name"].startswith("0002_alter_d")
    ]
    assert site == {
        "app": "sites",
        "name": "0002_alter_domain_unique",
        "applied": False,
        "status": "fakeable",
        "effects": "present",
        "elements": 1,
        "note": "",
        "differences": [],
    }
    assert document["tables_read"] == 18

    result = database.manage("reconcile", "--fake", "--format", "json")
    assert result.returncode == 0, result.stderr
    faked = json.loads(result.stdout)
    assert [a for a in faked["actions"] if a["action"] == "faked"] == [
        {
            "app": "sites",
            "name": "0002_alter_domain_unique",
            "action": "faked",
            "forced": False,
            "why": "",
        }
    ]
    assert faked["run"] == runs(database)[-1].pk

    # already recorded: nothing to do; unrecording it: refused, still one document
    result = database.manage("reconcile", "sites", "0002", "--fake", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["actions"] == []
    args = ("reconcile", "sites", "0002", "--unfake", "--format", "json")
    result = database.manage(*args)
    assert result.returncode == 4
    refusal = json.loads(result.stdout)
    assert (refusal["outcome"], refusal["exit_code"]) == ("error", 4)
    assert refusal["message"] == (
        "Not unrecording sites.0002_alter_domain_unique on database 'default': "
        "its effects are present.\n    unique (domain) on django_site: expected "
        "absent, found present\nNothing was changed."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--fake", "--force-fake"),
            "--force-fake needs --reason TEXT, which the ledger keeps.",
        ),
        (
            ("--fake", "--force-fake", "--reason", "   "),
            "--force-fake needs --reason TEXT, which the ledger keeps.",
        ),
        (("--force-fake", "--reason", "why"), "--force-fake only goes with --fake."),
        (("--fake", "--unfake"), "argument --unfake: not allowed with argument --fake"),
        (("nosuchapp",), "App 'nosuchapp' does not have migrations."),
        (
            ("catalog", "0009", "--fake"),
            "Cannot find a migration matching '0009' from app 'catalog'.",
        ),
    ],
)
def test_usage_errors_exit_1_and_change_nothing(
    database: Database, args: tuple[str, ...], message: str
) -> None:
    run("migrate", verbosity=0)
    delete_record(database, "sessions", "0001_initial")
    rows = database.migration_rows()
    result = database.manage("reconcile", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert database.migration_rows() == rows
    assert runs(database) == []


# --- the legacy database of the seed's "--fake" section ----------------------


def build_from_sqlmigrate(db: Database) -> int:
    """Create every table by running the SQL of every migration by hand.

    What an existing database looks like when it was made outside Django's
    migration history: the schema is there, ``django_migrations`` is not.
    """
    loader = MigrationLoader(db.connection)
    statements = []
    for migration in graph_order(loader):
        sql = run("sqlmigrate", migration.app_label, migration.name)
        for statement in sql.split(";\n"):
            lines = [
                line for line in statement.splitlines() if not line.startswith("--")
            ]
            text = "\n".join(lines).strip()
            if text and text.upper() not in ("BEGIN", "COMMIT"):
                statements.append(text)
    for statement in statements:
        db.query(statement)
    return len(statements)


def test_legacy_database_is_reconciled_to_fully_applied(database: Database) -> None:
    assert build_from_sqlmigrate(database) > 50
    assert "django_migrations" not in database.tables()
    assert ("Uncategorized",) in database.query("SELECT name FROM catalog_category")

    # plain --fake: everything verified, nothing that only runs code, and
    # nothing that depends on what was not recorded
    result = database.manage("reconcile", "--fake")
    assert result.returncode == 0, result.stderr
    not_recorded = result.stdout.split("Not recorded:\n")[1].split("\nLedger:")[0]
    assert not_recorded.splitlines() == [
        "  accounts.0003_set_has_profile_picture: runs code only: Raw Python "
        "operation; --force-fake --reason records it",
        "  accounts.0004_remove_userprofile_nickname: depends on "
        "accounts.0003_set_has_profile_picture, not applied",
        "  auth.0011_update_proxy_permissions: runs code only: Raw Python "
        "operation; --force-fake --reason records it",
        "  auth.0012_alter_user_first_name_max_length: depends on "
        "auth.0011_update_proxy_permissions, not applied",
        "  catalog.0002_default_category: runs code only: Raw SQL operation; "
        "--force-fake --reason records it",
        "  catalog.0003_delete_legacyprice: depends on "
        "catalog.0002_default_category, not applied",
        "  orders.0002_uppercase_currency: runs code only: Raw Python operation; "
        "--force-fake --reason records it",
        "  orders.0003_order_status: depends on catalog.0003_delete_legacyprice, "
        "orders.0002_uppercase_currency, not applied",
    ]
    assert result.stdout.count("... FAKED (verified)\n") == 18
    assert result.stdout.count("... FAKED (no schema effect)\n") == 5
    assert "Summary: 0 applied, 0 drift, 27 fakeable, 0 pending, 0 partial, " in (
        result.stdout
    )
    held_back = {
        tuple(line.split(":")[0].strip().split("."))
        for line in not_recorded.splitlines()
    }
    rows = database.migration_rows()
    everything = {
        (m.app_label, m.name) for m in graph_order(MigrationLoader(database.connection))
    }
    assert set(rows) == everything - held_back
    assert len(rows) == 23
    (first,) = runs(database)
    assert (first.command, first.outcome, first.fake) == ("reconcile", "success", True)
    state_only = {
        f"{e['app']}.{e['name']}"
        for e in first.executed
        if e["verification"] == "no schema effect"
    }
    assert state_only == {
        "admin.0002_logentry_remove_auto_add",
        "admin.0003_logentry_add_action_flag_choices",
        "auth.0004_alter_user_username_opts",
        "auth.0006_require_contenttypes_0002",
        "auth.0007_alter_validators_add_error_messages",
    }
    assert {e["verification"] for e in first.executed} == {
        "verified",
        "no schema effect",
    }

    # the data migrations are known to have run: recorded with the reason
    reason = "built by hand from sqlmigrate output, data included"
    result = database.manage("reconcile", "--fake", "--force-fake", "--reason", reason)
    assert result.returncode == 0, result.stderr
    assert "Not recorded:" not in result.stdout
    assert set(database.migration_rows()) == everything
    second = runs(database)[-1]
    assert recorded(second.executed, "app", "name", "verification", "reason") == [
        {
            "app": app,
            "name": name,
            "verification": "forced" if f"{app}.{name}" in CODE_ONLY else "verified",
            "reason": reason if f"{app}.{name}" in CODE_ONLY else None,
        }
        for app, name in [
            ("accounts", "0003_set_has_profile_picture"),
            ("accounts", "0004_remove_userprofile_nickname"),
            ("auth", "0011_update_proxy_permissions"),
            ("auth", "0012_alter_user_first_name_max_length"),
            ("catalog", "0002_default_category"),
            ("catalog", "0003_delete_legacyprice"),
            ("orders", "0002_uppercase_currency"),
            ("orders", "0003_order_status"),
        ]
    ]

    # nothing left to do
    assert database.manage("reconcile", "--check").returncode == 0
    assert database.manage("guardedmigrate", "--check").returncode == 0
    result = database.manage("guardedmigrate")
    assert result.returncode == 0, result.stderr
    assert "  No migrations to apply.\n" in result.stdout
    last = runs(database)[-1]
    assert (last.command, last.outcome, last.executed, last.backup_id) == (
        "guardedmigrate",
        "noop",
        [],
        "",
    )
