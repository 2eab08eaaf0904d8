"""``safemigrate --phase``: expand before the deploy, contract after it.

Real migration graphs (scenario packages swapped in with MIGRATION_MODULES)
on the three backends; the classification table itself without a database.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import migrations, models

from safemigrate import phases
from safemigrate.exceptions import UsageError
from safemigrate.phases import Phase
from tests.conftest import Database

PHASES = {"scenario": "tests.scenarios.phases"}


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("safemigrate", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def applied(db: Database, app: str = "scenario") -> list[str]:
    return [name for label, name in db.migration_rows() if label == app]


def test_pre_deploy_stops_before_the_first_post_deploy_migration(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = PHASES
    out = run("scenario", phase="pre-deploy", no_backup=True)
    lines = out.splitlines()
    assert lines[:2] == [
        "Phase pre-deploy: 2 of 5 migrations to apply; stopped before "
        "scenario.0003_contract, which is post-deploy: operations[0] "
        "RemoveField(book.legacy) drops a column the previous release still reads.",
        "  Left for --phase post-deploy: scenario.0003_contract, "
        "scenario.0004_after (pre-deploy, but depends on scenario.0003_contract, "
        "which is post-deploy), scenario.0005_mixed.",
    ]
    assert "  Applying scenario.0001_initial... OK" in lines
    assert "  Applying scenario.0002_expand... OK" in lines
    assert applied(database) == ["0001_initial", "0002_expand"]
    columns = {c[0] for c in database.schema()["scenario_book"]["columns"]}
    assert {"isbn", "pages", "legacy"} <= columns
    # again: nothing left before the deploy, the same stop
    out = run("scenario", phase="pre-deploy", no_backup=True)
    assert out.splitlines()[0] == (
        "Phase pre-deploy: 0 of 3 migrations to apply; stopped before "
        "scenario.0003_contract, which is post-deploy: operations[0] "
        "RemoveField(book.legacy) drops a column the previous release still reads."
    )
    assert applied(database) == ["0001_initial", "0002_expand"]

    out = run("scenario", phase="post-deploy", no_backup=True)
    assert out.splitlines()[0] == (
        "Phase post-deploy: 3 migrations to apply (1 of them pre-deploy ones "
        "not applied before)."
    )
    assert applied(database) == [
        "0001_initial",
        "0002_expand",
        "0003_contract",
        "0004_after",
        "0005_mixed",
    ]
    run_rows = list(
        database.query(
            "SELECT plan FROM safemigrate_migrationrun ORDER BY id"
        )
    )
    plans = [
        [step["name"] for step in json.loads(row[0])] if isinstance(row[0], str)
        else [step["name"] for step in row[0]]
        for row in run_rows
    ]
    assert plans == [
        ["0001_initial", "0002_expand"],
        [],
        ["0003_contract", "0004_after", "0005_mixed"],
    ]
