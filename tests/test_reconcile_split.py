"""Migrations whose database operations are not their state operations.

``SeparateDatabaseAndState`` (and ``RunSQL`` with state operations): what
``reconcile`` expects of the database is what the database operations do,
never what the state operations say; a table made by SQL is checked for
existence only (``tests/scenarios/reconcile_split``).
"""

from __future__ import annotations

from typing import Any

import pytest

from migration_guard.exceptions import CheckFailed
from tests.conftest import Database
from tests.test_reconcile import refused, report, run

SPLIT = {"scenario": "tests.scenarios.reconcile_split"}


def verdicts() -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report("scenario")["migrations"]}


def test_database_operations_are_what_is_expected(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SPLIT
    run("migrate", verbosity=0)
    found = verdicts()
    assert {name: m["status"] for name, m in found.items()} == {
        "0001_initial": "applied",
        "0002_gadget_code": "applied",
        "0003_adopt_legacy": "applied",
        "0004_note": "applied",
    }
    # the column as the database operation made it (40), not as the state says
    assert found["0002_gadget_code"]["elements"] == 1
    # adopted: no schema effect, and no table scenario_legacy expected
    assert found["0003_adopt_legacy"]["note"] == "no schema effect (state only)"
    assert "scenario_legacy" not in database.tables()
    # made by SQL: the table exists; its columns are the SQL's, not compared
    assert found["0004_note"]["elements"] == 1
    assert found["0004_note"]["note"] == "not verifiable: Raw SQL operation"


@pytest.mark.parametrize(
    ("damage", "migration", "difference"),
    [
        (
            "DROP TABLE scenario_note",
            "0004_note",
            "table scenario_note: missing",
        ),
        (
            "ALTER TABLE scenario_gadget DROP COLUMN code",
            "0002_gadget_code",
            "column scenario_gadget.code: missing (expected CharField(40) NULL)",
        ),
    ],
)
def test_what_the_database_operations_did_is_checked(
    database: Database, settings: Any, damage: str, migration: str, difference: str
) -> None:
    settings.MIGRATION_MODULES = SPLIT
    run("migrate", verbosity=0)
    database.query(damage)
    error, out = refused(CheckFailed, "reconcile", "scenario", check=True)
    assert error.returncode == 2
    assert str(error) == (
        "1 migration on database 'default' does not match the schema: "
        f"scenario.{migration}."
    )
    assert f"\n        {difference}\n" in out
