"""Rollback planning, revert previews and rollbacks on the three backends."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from migration_guard.exceptions import RestoreRequired, UsageError
from migration_guard.models import MigrationRun
from migration_guard.rollback.preview import build_preview
from migration_guard.run.planning import TargetSpec, backward_reasons, build_plan
from tests.conftest import Database
from tests.schema import logical_dump, snapshot

APPS = ("accounts", "catalog", "orders")
WRITES = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|REPLACE)\b", re.I
)
TYPES = {"scenario": "tests.scenarios.types"}
SDAS = {"scenario": "tests.scenarios.sdas"}


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def all_targets() -> list[tuple[str, str]]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    targets = []
    for app in APPS:
        targets += sorted((a, n) for a, n in loader.disk_migrations if a == app)
        targets.append((app, "zero"))
    return targets


def shape(connection: Any) -> dict[str, Any]:
    """A schema to compare across a rollback: names of generated things aside.

    Columns are compared as a set (SQLite rebuilds tables in another column
    order), constraints by content (SQLite invents constraint names).
    """
    result = {}
    for table, details in snapshot(connection).items():
        result[table] = {
            "columns": sorted(details["columns"]),
            "constraints": sorted(
                repr(sorted(c.items())) for c in details["constraints"].values()
            ),
        }
    return result


def plan_labels(output: str) -> list[str]:
    return [
        line for line in output.splitlines()[1:] if line and not line.startswith(" ")
    ]


@pytest.mark.parametrize(("app", "target"), all_targets())
def test_preview_matches_migrate_plan_and_execution_matches_forward_schema(
    make_database: Callable[..., Database], app: str, target: str
) -> None:
    db = make_database()
    run("guardedmigrate", verbosity=0, no_backup=True)
    expected = plan_labels(run("migrate", app, target, plan=True))
    plan = build_plan("default", TargetSpec(app, target))
    preview = build_preview(plan)
    assert [m.label for m in preview.migrations] == expected

    # every dependency reason names real edges: each step depends on the one before
    graph = plan.loader.graph
    for migration in preview.migrations:
        chain = migration.reason.chain
        for parent, child in itertools.pairwise(chain):
            assert parent in graph.node_map[child].parents, (parent, child)

    remaining = {f"{a}.{n}" for a, n in plan.loader.applied_migrations} - set(expected)
    if preview.irreversible:
        with pytest.raises(RestoreRequired) as caught:
            run("guardedmigrate", app, target, verbosity=0, interactive=False)
        assert caught.value.returncode == 8
        assert db.migration_rows() != [] and len(db.migration_rows()) > len(remaining)
        return
    run("guardedmigrate", app, target, verbosity=0, interactive=False, no_backup=True)
    assert {f"{a}.{n}" for a, n in db.migration_rows()} == remaining
    rolled_back = shape(db.connection)

    reference = make_database()
    loader = MigrationLoader(reference.connection)
    targets = []
    for label in sorted({key.split(".")[0] for key in remaining}):
        mine = {tuple(k.split(".", 1)) for k in remaining if k.startswith(label + ".")}
        leaves = [
            k for k in mine if not (set(loader.graph.node_map[k].children) & mine)
        ]
        targets += leaves
    MigrationExecutor(reference.connection).migrate(targets)
    assert {f"{a}.{n}" for a, n in reference.migration_rows()} == remaining
    forward = shape(reference.connection)
    rolled_back.pop("migration_guard_migrationrun", None)
    forward.pop("migration_guard_migrationrun", None)
    assert rolled_back == forward


def test_cross_app_reason_names_the_edge(database: Database) -> None:
    run("guardedmigrate", verbosity=0, no_backup=True)
    plan = build_plan("default", TargetSpec("catalog", "0001"))
    reasons = backward_reasons(plan)
    reason = reasons[("orders", "0003_order_status")]
    assert reason.chain == (
        ("catalog", "0002_default_category"),
        ("catalog", "0003_delete_legacyprice"),
        ("orders", "0003_order_status"),
    )
    assert reason.describe() == (
        "depends on catalog.0003_delete_legacyprice, which depends on "
        "catalog.0002_default_category (catalog goes back to 0001_initial)"
    )
    out = run("rollbackplan", "catalog", "0001")
    assert (
        "    [1] orders.0003_order_status\n        why: depends on catalog.0003" in out
    )


def _insert_shop(db: Database) -> None:
    call_command(
        "shell",
        command=(
            "from django.contrib.auth.models import User\n"
            "from accounts.models import UserProfile\n"
            "from catalog.models import Category, Product\n"
            "from orders.models import Order\n"
            "from django.utils import timezone\n"
            "for i in range(3):\n"
            "    u = User.objects.create(username=f'u{i}')\n"
            "    p = UserProfile.objects.create(user=u, display_name=f'U{i}',"
            " profile_picture_url='http://x/p.png' if i else '')\n"
            "    Order.objects.create(customer=p, number=f'N{i}',"
            " placed_at=timezone.now())\n"
            "c = Category.objects.get(slug='uncategorized')\n"
            "Product.objects.create(category=c, sku='s1', name='n', price=1)\n"
        ),
    )


def test_data_at_risk_counts_equal_select_count(database: Database) -> None:
    run("guardedmigrate", verbosity=0, no_backup=True)
    _insert_shop(database)
    preview = build_preview(build_plan("default", TargetSpec("accounts", "0001")))
    risks = {(r.kind, r.table, r.column): r.count for r in preview.risks}
    (profiles,) = database.query(
        "SELECT COUNT(has_profile_picture) FROM accounts_userprofile"
    )[0]
    assert (
        risks[("column", "accounts_userprofile", "has_profile_picture")]
        == profiles
        == 3
    )
    preview = build_preview(build_plan("default", TargetSpec("orders", "0002")))
    (orders,) = database.query("SELECT COUNT(status) FROM orders_order")[0]
    assert [(r.table, r.column, r.count) for r in preview.risks] == [
        ("orders_order", "status", orders)
    ]
    assert orders == 3


def test_table_drops_and_not_null_readd(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = TYPES
    run("guardedmigrate", "scenario", "0002", verbosity=0, no_backup=True)
    database.query("INSERT INTO scenario_sample (extra) VALUES (1)")
    database.query("INSERT INTO scenario_sample (extra) VALUES (2)")
    preview = build_preview(build_plan("default", TargetSpec("scenario", "zero")))
    risks = [(r.kind, r.table, r.column, r.count) for r in preview.risks]
    assert risks == [
        ("column", "scenario_sample", "extra", 2),
        ("table", "scenario_sample", None, 2),
    ]


def test_not_null_readd_on_a_non_empty_table(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = SDAS
    run("guardedmigrate", "scenario", "0002", verbosity=0, no_backup=True)
    database.query("INSERT INTO scenario_widget (name) VALUES ('a')")
    preview = build_preview(build_plan("default", TargetSpec("scenario", "0001")))
    (risk,) = preview.risks
    assert (risk.kind, risk.table, risk.column, risk.count) == (
        "not-null-readd",
        "scenario_widget",
        "qty",
        1,
    )
    assert "fails on PostgreSQL and SQLite" in risk.describe()


def test_irreversible_inside_separate_database_and_state(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SDAS
    run("guardedmigrate", "scenario", verbosity=0, no_backup=True)
    django_plan = run("migrate", "scenario", "0002", plan=True)
    assert "IRREVERSIBLE" not in django_plan  # Django's --plan misses it
    preview = build_preview(build_plan("default", TargetSpec("scenario", "0002")))
    (migration,) = preview.migrations
    assert not migration.reversible
    (effect,) = migration.effects
    assert effect.nested and effect.undo == "IRREVERSIBLE: RunSQL without reverse_sql"
    with pytest.raises(RestoreRequired) as caught:
        run("rollbackplan", "scenario", "0002")
    assert caught.value.returncode == 8
    document = json.loads(run_json_despite_exit("rollbackplan", "scenario", "0002"))
    assert document["irreversible"] == ["scenario.0003_hidden_irreversible"]
    assert document["strategy"]["name"] == "restore"


def run_json_despite_exit(*args: str) -> str:
    out = io.StringIO()
    with pytest.raises(RestoreRequired):
        call_command(*args, stdout=out, format="json")
    return out.getvalue()


def test_rollbackplan_never_writes(database: Database) -> None:
    run("guardedmigrate", verbosity=0)
    _insert_shop(database)
    before = logical_dump(database.connection)
    connection = connections["default"]
    with CaptureQueriesContext(connection) as queries:
        for args in (("catalog", "0001"), ("accounts", "zero"), ("--last",)):
            try:
                run("rollbackplan", *args, sql=True)
                run("rollbackplan", *args, format="json")
                run("rollbackplan", *args, format="dot")
            except RestoreRequired:
                pass
    writes = [q["sql"] for q in queries.captured_queries if WRITES.match(q["sql"])]
    assert writes == []
    assert logical_dump(database.connection) == before


def test_backward_sql_is_in_execution_order(database: Database) -> None:
    run("guardedmigrate", verbosity=0, no_backup=True)
    out = run("rollbackplan", "catalog", "0001", sql=True)
    sql = out[out.index("Backward SQL:") :]
    order = [
        line.split()[-1] for line in sql.splitlines() if line.startswith("-- Unapply")
    ]
    assert order == [
        "orders.0003_order_status",
        "catalog.0003_delete_legacyprice",
        "catalog.0002_default_category",
    ]
    assert "DELETE FROM catalog_category WHERE slug = 'uncategorized'" in sql
    assert re.search(r"DROP COLUMN .?status", sql)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nosuchapp", "0001"), "No installed app with label 'nosuchapp'."),
        (
            ("catalog", "0009"),
            "Cannot find a migration matching '0009' from app 'catalog'.",
        ),
        (
            ("accounts", "000"),
            "More than one migration matches '000' in app 'accounts'",
        ),
        (("catalog",), "Name where to go back to"),
    ],
)
def test_bad_targets_are_usage_errors(
    database: Database, args: tuple[str, ...], expected: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(expected)) as caught:
        run("rollbackplan", *args)
    assert caught.value.returncode == 1
    assert database.tables() == set()


def test_rollback_last_unapplies_a_run_that_added_a_column(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = TYPES
    run("guardedmigrate", "scenario", "0001", verbosity=0)
    database.query("INSERT INTO scenario_sample (label) VALUES ('kept')")
    before = shape(database.connection)
    run("guardedmigrate", "scenario", "0002", verbosity=0)
    database.query("UPDATE scenario_sample SET extra = 5")
    out = run("rollback", last=True, interactive=False)
    assert "[1] scenario.0002_sample_extra" in out
    assert "at risk: column scenario_sample.extra: 1 non-null value" in out
    assert "  Unapplying scenario.0002_sample_extra... OK\n" in out
    after = shape(database.connection)
    before.pop("migration_guard_migrationrun")
    after.pop("migration_guard_migrationrun")
    assert after == before
    assert database.query("SELECT label FROM scenario_sample") == [("kept",)]
    last = MigrationRun.objects.using("default").order_by("id").last()
    assert last is not None and (last.command, last.direction) == (
        "rollback",
        "backwards",
    )
    assert "ahead of database 'default'" in out


def test_rollback_of_an_irreversible_run_restores_its_backup(
    database: Database,
) -> None:
    run("guardedmigrate", "auth", verbosity=0, no_backup=True)
    run("guardedmigrate", "orders", "0001", verbosity=0)
    _insert_shop_before_orders_0002(database)
    before = logical_dump(database.connection)
    run("guardedmigrate", verbosity=0)  # orders.0002 (irreversible) and more
    database.query("UPDATE orders_order SET status = 'paid'")
    with pytest.raises(RestoreRequired):
        run("rollback", last=True, strategy="unapply", interactive=False)
    out = run("rollback", last=True, interactive=False)
    assert "Strategy: restore" in out
    after = logical_dump(database.connection)
    ledger_before = before["rows"].pop("migration_guard_migrationrun")
    ledger_after = after["rows"].pop("migration_guard_migrationrun")
    assert after == before  # data written before the run is intact
    assert len(ledger_after) == len(ledger_before) + 2  # the run and the rollback


def _insert_shop_before_orders_0002(db: Database) -> None:
    call_command(
        "shell",
        command=(
            "from django.contrib.auth.models import User\n"
            "from django.db import connection\n"
            "from django.utils import timezone\n"
            "u = User.objects.create(username='x')\n"
            "with connection.cursor() as c:\n"
            '    c.execute("INSERT INTO accounts_userprofile (user_id, display_name,'
            " profile_picture_url, nickname, created_at) VALUES"
            " (%s, 'X', '', '', %s)\", [u.pk, timezone.now()])\n"
            '    c.execute("SELECT id FROM accounts_userprofile")\n'
            "    pid = c.fetchone()[0]\n"
            '    c.execute("INSERT INTO orders_order (customer_id, number, currency,'
            " placed_at) VALUES (%s, 'N1', 'eur', %s)\", [pid, timezone.now()])\n"
        ),
    )


def test_guardedmigrate_backwards_asks_and_defaults_to_no(database: Database) -> None:
    run("guardedmigrate", verbosity=0, no_backup=True)
    rows = database.migration_rows()
    with pytest.raises(UsageError, match=r"Cancelled; nothing was changed\."):
        run("guardedmigrate", "catalog", "0001")
    assert database.migration_rows() == rows
    result = database.manage("guardedmigrate", "catalog", "0001")  # no terminal: No
    assert result.returncode == 1
    assert "Rollback plan for database 'default': catalog back to 0001_initial" in (
        result.stdout
    )
    assert database.migration_rows() == rows
    with pytest.raises(RestoreRequired) as caught:
        run("guardedmigrate", "orders", "0001", interactive=False)
    assert "orders.0002_uppercase_currency cannot be reversed" in str(caught.value)
    assert database.migration_rows() == rows


@pytest.mark.parametrize(
    ("app", "target"), [("accounts", "zero"), ("catalog", "0001"), ("orders", "0002")]
)
def test_backward_sql_equals_sqlmigrate_backwards_per_migration(
    database: Database, app: str, target: str
) -> None:
    """Each migration's SQL is what ``sqlmigrate --backwards`` prints for it."""
    from migration_guard.rollback.backward_sql import write_backward_sql

    run("guardedmigrate", verbosity=0, no_backup=True)
    plan = build_plan("default", TargetSpec(app, target))
    out = io.StringIO()
    write_backward_sql(plan, out)
    chunks = out.getvalue().split("--\n-- Unapply ")[1:]
    assert len(chunks) == len(plan.steps)
    for step, chunk in zip(plan.steps, chunks, strict=True):
        header, body = chunk.split("\n--\n", 1)
        assert header == step.label
        if body.startswith("-- IRREVERSIBLE: "):
            assert any(not op.reversible for op in step.migration.operations)
            continue
        expected = run(
            "sqlmigrate", step.migration.app_label, step.migration.name, backwards=True
        )
        expected_lines = [
            line for line in expected.splitlines() if line not in ("BEGIN;", "COMMIT;")
        ]
        assert body.splitlines() == expected_lines, step.label


def test_preview_to_a_migration_inside_an_applied_squash(
    database: Database, settings: Any
) -> None:
    """A target replaced by an applied squash: the walk takes either the
    squash or what it replaces, never both (applying both crashed the
    preview with KeyError: 'width' on the squash's RemoveField)."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.squash_middle"}
    run("migrate", "scenario", verbosity=0)
    executor = MigrationExecutor(connections["default"])
    django_plan = [
        f"{m.app_label}.{m.name}"
        for m, _ in executor.migration_plan([("scenario", "0002_remove_width")])
    ]
    assert django_plan == ["scenario.0004_shelf_height", "scenario.0003_shelf_depth"]
    output = run("rollbackplan", "scenario", "0002_remove_width", sql=True)
    steps = re.findall(r"^\s+\[\d+\] (\S+)$", output, re.M)
    assert steps == django_plan
    quote = connections["default"].ops.quote_name
    drop = f"ALTER TABLE {quote('scenario_shelf')} DROP COLUMN "
    lines = [
        line.strip().removesuffix(" CASCADE;").removesuffix(";")
        for line in output.splitlines()
        if line.startswith(("ALTER TABLE", "-- Unapply"))
    ]
    assert lines == [
        "-- Unapply scenario.0004_shelf_height",
        drop + quote("height"),
        "-- Unapply scenario.0003_shelf_depth",
        drop + quote("depth"),
    ]


def test_rollbackplan_never_contradicts_itself(database: Database) -> None:
    """What each operation says, the summary and the strategy agree."""
    run("guardedmigrate", verbosity=0, no_backup=True)
    lines = run("rollbackplan", "catalog", "0001").splitlines()
    assert (
        "            nothing at risk: column orders_order.status: 0 non-null values"
        in (lines)
    )
    assert not [line for line in lines if line.strip().startswith("at risk:")]
    assert lines[-3:] == [
        "Data at risk:",
        "  none (every table and column to drop is empty)",
        "Strategy: unapply (every operation has a reverse; the schema comes back, "
        "not the data deleted when the plan was applied (re-created empty: table "
        "catalog_legacyprice))",
    ]
    _insert_shop(database)
    lines = run("rollbackplan", "orders", "0002").splitlines()
    assert "            at risk: column orders_order.status: 3 non-null values" in (
        lines
    )
    assert lines[-3:] == [
        "Data at risk:",
        "  column orders_order.status: 3 non-null values",
        "Strategy: unapply (every operation has a reverse; the data at risk above "
        "is dropped)",
    ]
    lines = run("rollbackplan", "admin", "0002").splitlines()
    assert lines[-1].startswith("Strategy: unapply (every operation can be undone)")


def test_reason_chains_stay_within_the_app_first() -> None:
    """Of two chains as short, the one whose last edge stays in the app."""
    from types import SimpleNamespace

    from django.db.migrations import Migration
    from django.db.migrations.graph import MigrationGraph

    graph = MigrationGraph()
    for key in [("a", "1"), ("a", "2"), ("a", "3"), ("b", "1"), ("b", "2"), ("b", "3")]:
        graph.add_node(key, Migration(key[1], key[0]))
    for child, parent in [
        (("a", "2"), ("a", "1")),
        (("a", "3"), ("a", "2")),
        (("b", "2"), ("b", "1")),
        (("b", "2"), ("a", "2")),
        (("b", "3"), ("b", "2")),
        (("b", "3"), ("a", "3")),
    ]:
        graph.add_dependency(None, child, parent)
    in_plan = [("b", "3"), ("a", "3"), ("b", "2"), ("a", "2")]
    plan = SimpleNamespace(
        loader=SimpleNamespace(graph=graph),
        steps=[SimpleNamespace(key=key) for key in in_plan],
        resolution=SimpleNamespace(targets=[("a", "1")]),
    )
    reasons = backward_reasons(plan)  # type: ignore[arg-type]
    assert reasons[("b", "3")].chain == (("a", "2"), ("b", "2"), ("b", "3"))
    assert reasons[("b", "3")].describe() == (
        "depends on b.2, which depends on a.2 (a goes back to 1)"
    )
    assert reasons[("a", "3")].chain == (("a", "2"), ("a", "3"))
    assert reasons[("b", "2")].chain == (("a", "2"), ("b", "2"))
