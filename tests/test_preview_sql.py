"""The backward SQL of ``rollbackplan --sql``: never a crash, few renders.

Some schema editor paths read the live database to name what they drop; in
a plan, the live database is not yet as the earlier (unexecuted) steps leave
it. Such a step is marked, with the reason, and the rest is printed.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from django.core.management import call_command

from migration_guard.exceptions import RestoreRequired
from migration_guard.rollback.partial import render_count
from tests.conftest import Database

TOGETHER = {"scenario": "tests.scenarios.together"}
WRONG = "Found wrong number (0) of constraints for scenario_shelf(label, width)"


def rollbackplan(*args: str, **options: Any) -> str:
    """Its output; exit 8 (irreversible: only a restore goes back) is fine here."""
    out = io.StringIO()
    with contextlib.suppress(RestoreRequired):
        call_command("rollbackplan", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def blocks(sql: str) -> dict[str, str]:
    """The backward SQL per migration: ``{"0002_shelf_unique": "...", ...}``."""
    chunks = sql.split("--\n-- Unapply scenario.")[1:]
    return {chunk.split("\n", 1)[0]: chunk.split("\n", 2)[2] for chunk in chunks}


def test_sql_that_needs_earlier_steps_is_marked_not_crashed(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)

    out = rollbackplan("scenario", "zero", sql=True)
    sql = blocks(out.split("Backward SQL:\n", 1)[1])
    assert list(sql) == [
        "0007_shelf_depth",
        "0006_shelf_parent",
        "0005_shelf_note",
        "0004_rename_width",
        "0003_shelf_not_unique",
        "0002_shelf_unique",
        "0001_initial",
    ]
    assert sql["0002_shelf_unique"].splitlines()[:4] == [
        "--",
        "-- Alter unique_together for shelf (1 constraint(s))",
        "--",
        "-- NOT PREVIEWED (needs the earlier steps executed): the schema editor "
        f"reads the live database (ValueError: {WRONG}); scenario_shelf is changed by "
        "scenario.0007_shelf_depth first",
    ]
    assert "CREATE TABLE" not in sql["0001_initial"]
    assert "DROP TABLE" in sql["0001_initial"]
    assert "UNIQUE" in sql["0003_shelf_not_unique"]
    # dropping the foreign key reads its name from a table 0007 changes first
    # (SQLite rebuilds the table instead: nothing read)
    stale = (
        "-- NOT PREVIEWED (needs the earlier steps executed): the schema editor "
        "reads the live database, which is not yet as the earlier steps leave it "
        "(scenario_shelf is changed by scenario.0007_shelf_depth first)"
    )
    parent = sql["0006_shelf_parent"].splitlines()
    assert parent[1] == "-- Add field parent to shelf"
    assert (parent[3] == stale) is (database.vendor != "sqlite")
    marked = "scenario.0002_shelf_unique"
    if database.vendor != "sqlite":
        marked = "scenario.0006_shelf_parent, " + marked
    last = out.rstrip("\n").splitlines()[-1]
    assert last == (
        f"{1 + (database.vendor != 'sqlite')} step"
        f"{'s' if database.vendor != 'sqlite' else ''} not previewed in full: "
        "their SQL depends on the database as the earlier steps leave it (marked "
        f"NOT PREVIEWED above): {marked}"
    )

    # the same marker in JSON, one document; a real manage.py exits 0
    document = json.loads(rollbackplan("scenario", "zero", sql=True, format="json"))
    steps = {step["name"]: step for step in document["backward_sql"]}
    (together,) = steps["0002_shelf_unique"]["operations"]
    assert together["previewed"] is False
    assert together["sql"] == []
    assert WRONG in together["reason"]
    assert steps["0002_shelf_unique"]["complete"] is False
    assert steps["0001_initial"]["complete"] is True
    assert any("DROP TABLE" in s for s in steps["0001_initial"]["operations"][0]["sql"])


def test_previews_render_no_model_and_sql_renders_few(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", verbosity=0)
    with render_count() as plain:
        rollbackplan("scenario", "zero")
        rollbackplan("auth", "zero")
    assert plain[0] == 0

    # one model in the scenario: rendered once, then once per operation
    with render_count() as scenario:
        rollbackplan("scenario", "zero", sql=True)
    assert scenario[0] <= 1 + 7  # 7 operations

    # the testproject to zero: at most 16 renders per operation undone
    with render_count() as project:
        out = rollbackplan("contenttypes", "zero", sql=True)
    operations = out.count("\n-- ") - out.count("\n-- Unapply ")
    assert project[0] <= 16 * operations


def test_each_table_is_introspected_once_per_preview(
    database: Database, settings: Any
) -> None:
    """Nothing runs while SQL is collected: a table read twice is read once.

    The together scenario's backward plan reads scenario_shelf's constraints
    in several steps (unique_together, the foreign key); the database answers
    the first, the later ones are the same answer (and the output as before).
    """
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    introspection = database.connection.introspection
    asked: list[str] = []
    original = type(introspection).get_constraints

    def counting(self: Any, cursor: Any, table_name: str) -> Any:
        asked.append(table_name)
        return original(self, cursor, table_name)

    type(introspection).get_constraints = counting  # type: ignore[method-assign]
    try:
        out = rollbackplan("scenario", "zero", sql=True)
    finally:
        type(introspection).get_constraints = original  # type: ignore[method-assign]
    assert "Unapply scenario.0001_initial" in out
    assert sorted(set(asked)) == sorted(asked)
    if database.vendor != "sqlite":  # SQLite rebuilds tables: no constraint reads
        assert "scenario_shelf" in asked
