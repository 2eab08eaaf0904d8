"""``rollbackplan --sql`` walks the history once for its preview and its SQL.

The revert preview (the effects of each operation) and the backward SQL
both need the project state before each migration to undo; the command
hands each visit of the preview's walk to the SQL collector
(:class:`migration_guard.rollback.backward_sql.BackwardSQL`) instead of
walking the history a second time. The output is the one each gives on a
walk of its own.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from django.core.management import call_command

from migration_guard.management import render
from migration_guard.rollback.backward_sql import backward_sql, write_backward_sql
from migration_guard.rollback.preview import build_preview
from migration_guard.rollback.strategy import strategy_for
from migration_guard.run.planning import TargetSpec, build_plan
from migration_guard.walk import StateWalk
from tests.conftest import Database
from tests.test_preview_sql import rollbackplan

KEYHOLDERS = {"scenario": "tests.scenarios.keyholders"}


def _counting_walks(monkeypatch: Any) -> list[StateWalk]:
    """Each ``StateWalk`` iterated from now on (wrapped, not replaced)."""
    walks: list[StateWalk] = []
    iterate = StateWalk.__iter__

    def counting(self: StateWalk) -> Iterator[Any]:
        walks.append(self)
        return iterate(self)

    monkeypatch.setattr(StateWalk, "__iter__", counting)
    return walks


def test_sql_shares_the_walk_of_the_preview(
    database: Database, settings: Any, monkeypatch: Any
) -> None:
    settings.MIGRATION_MODULES = KEYHOLDERS
    call_command("migrate", "scenario", verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    preview = build_preview(plan)
    strategy = strategy_for("default", preview, None)
    separate = io.StringIO()
    write_backward_sql(plan, separate)
    expected_json = [step.as_json() for step in backward_sql(plan)]

    walks = _counting_walks(monkeypatch)
    out = rollbackplan("scenario", "zero", sql=True)
    # one walk for the effects and the SQL, one for the phases
    # (migration_guard.run.phases.history.classify_history)
    assert len(walks) == 2
    text, sql = out.split("Backward SQL:\n", 1)
    assert "-- Unapply scenario.0005_author_bigint" in sql
    assert sql == separate.getvalue()
    assert text.splitlines() == render.preview_lines(
        preview, strategy, None, _NoStyle()
    )

    walks.clear()
    document = json.loads(rollbackplan("scenario", "zero", sql=True, format="json"))
    assert len(walks) == 2
    assert document["backward_sql"] == expected_json
    assert [m["operations"] for m in document["migrations"]] == [
        [effect.as_json() for effect in m.effects] for m in preview.migrations
    ]


def test_preview_without_sql_walks_as_before(
    database: Database, settings: Any, monkeypatch: Any
) -> None:
    settings.MIGRATION_MODULES = KEYHOLDERS
    call_command("migrate", "scenario", verbosity=0)
    walks = _counting_walks(monkeypatch)
    out = rollbackplan("scenario", "0003")
    assert "Backward SQL" not in out
    assert "[1] scenario.0005_author_bigint" in out
    assert len(walks) == 2  # the preview's, the phases'


class _NoStyle:
    """``no_color`` styles: each returns its text as is."""

    def __getattr__(self, name: str) -> Any:
        return lambda text: text
