"""``migrationhistory`` over the ledger."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.exceptions import UsageError
from tests.conftest import Database


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("migrationhistory", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def test_empty_database_has_no_history(database: Database) -> None:
    assert run() == "No guardedmigrate runs recorded on database 'default' yet.\n"
    assert json.loads(run(format="json")) == {"database": "default", "runs": []}
    assert database.tables() == set()  # reading never creates the ledger


def test_lists_runs_newest_first(database: Database, settings: Any) -> None:
    call_command("guardedmigrate", verbosity=0)
    call_command("guardedmigrate", "catalog", "0002", verbosity=0, interactive=False)
    call_command("guardedmigrate", verbosity=0)
    call_command("guardedmigrate", verbosity=0)
    lines = run().splitlines()
    assert lines[0].split() == [
        "ID",
        "STARTED",
        "USER@HOST",
        "DIRECTION",
        "MIGRATIONS",
        "DURATION",
        "OUTCOME",
    ]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == ["4", "3", "2", "1"]
    assert [row[4] for row in rows] == ["none", "forwards", "backwards", "forwards"]
    assert [row[5] for row in rows] == [
        "0",
        "2",
        "2",
        str(len(database.migration_rows())),
    ]
    assert rows[0][-3:] == ["nothing", "to", "do"]
    assert rows[1][-1] == "success"

    documents = json.loads(run(format="json", limit=2))["runs"]
    assert [d["id"] for d in documents] == [4, 3]
    assert [e["name"] for e in documents[1]["executed"]] == [
        "0003_delete_legacyprice",
        "0003_order_status",
    ]
    successes = json.loads(run(format="json", outcome="success"))["runs"]
    assert [d["id"] for d in successes] == [3, 2, 1]

    detail = run(run=2)
    assert "Run 2 on database 'default':" in detail
    assert "    unapply orders.0003_order_status" in detail
    assert "    unapplied catalog.0003_delete_legacyprice in " in detail
    assert json.loads(run(run=2, format="json"))["direction"] == "backwards"


def test_unknown_run_is_a_usage_error(database: Database) -> None:
    call_command("guardedmigrate", verbosity=0)
    with pytest.raises(
        UsageError, match="No run 99 in the ledger of database 'default'"
    ):
        run(run=99)
