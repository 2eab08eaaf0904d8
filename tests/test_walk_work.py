"""No walk of the history replays the graph (issues 12 and 13).

``MigrationLoader.project_state`` replays the graph up to one migration at
each call: a walk calling it per migration is quadratic. The phases (for
``guardedmigrate --phase`` and ``rollbackplan``), the lock-aware gates and
lint's ``AlterField`` check follow the one walk (:mod:`migration_guard.walk`)
instead. The calls are counted (the method wrapped, not replaced).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

from migration_guard.gates.lint import lint
from tests.conftest import Database
from tests.test_checkmigrations import check as checkmigrations


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Each ``MigrationLoader.project_state`` call, by its node."""
    calls: list[object] = []
    original = MigrationLoader.project_state

    def counting(self: MigrationLoader, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else kwargs.get("nodes"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MigrationLoader, "project_state", counting)
    yield calls


def test_phases_of_a_plan_and_rollbackplan_replay_nothing(
    database: Database, settings: Any, replays: list[object]
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.phases"}
    out = io.StringIO()
    call_command(
        "guardedmigrate", "scenario", phase="pre-deploy", no_backup=True, stdout=out
    )
    assert out.getvalue().startswith("Phase pre-deploy: 2 of 5 migrations")
    call_command("guardedmigrate", "scenario", no_backup=True, verbosity=0)
    preview = io.StringIO()
    call_command("rollbackplan", "scenario", "0002", stdout=preview, format="json")
    phases = [m["phase"] for m in json.loads(preview.getvalue())["migrations"]]
    assert phases == ["post-deploy", "pre-deploy", "post-deploy"]
    assert replays == []


def test_checkmigrations_replays_nothing(
    database: Database, settings: Any, replays: list[object]
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.lockwatch"}
    code, out = checkmigrations("scenario", format="json")
    checks = {p["check"] for p in json.loads(out)["problems"]}
    # 0002_slow: a type change (a real column change) beside RunPython
    assert code == 2
    assert "migration_guard.W011" in checks
    assert replays == []


def test_lint_tells_a_column_change_without_replaying(
    settings: Any, replays: list[object]
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.lockwatch"}
    found = lint(MigrationLoader(None, ignore_no_migrations=True), ["scenario"])
    assert [(f.check_id, f.migration, f.operation_index) for f in found] == [
        ("migration_guard.W011", "scenario.0002_slow", 1)
    ]
    assert replays == []


def test_a_skipped_operation_leaves_the_state_alone() -> None:
    """``Visit.skip``: an operation the state cannot take is passed over."""
    from django.db import migrations, models
    from django.db.migrations.state import ProjectState

    from migration_guard.walk import Visit

    migration = migrations.Migration("0001_initial", "shop")
    migration.operations = [
        migrations.AlterField("missing", "name", models.TextField()),
        migrations.CreateModel("Item", [("id", models.AutoField(primary_key=True))]),
    ]
    visit = Visit(migration, ProjectState())
    with pytest.raises(KeyError):
        visit.step()
    assert visit.skip() is migration.operations[0]
    visit.finish()
    assert set(visit.state.models) == {("shop", "item")}
    assert not visit.pending


def test_phases_without_a_graph_classify_without_a_state() -> None:
    """Without a loader the operations are classified without a state."""
    from django.db import migrations, models

    from migration_guard.run.phases import Phase, classify_migrations

    migration = migrations.Migration("0002_more", "shop")
    migration.operations = [
        migrations.AddField("item", "sku", models.TextField(default="")),
        migrations.RemoveField("item", "legacy"),
    ]
    [verdict] = classify_migrations([migration])
    assert verdict.phase is Phase.POST
    assert verdict.operations[1].phase is Phase.POST
    assert verdict.operations[1].reason == (
        "drops a column the previous release still reads"
    )
