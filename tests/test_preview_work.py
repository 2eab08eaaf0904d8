"""How much ``rollbackplan --sql`` renders: counted, so that a regression shows.

The keyholders scenario: ``Author`` points at ``Country`` (which ``City``
points at too), ``Book`` points at ``Author``, ``Review`` at ``Book``; then
a city gets a name (0002), the author's unique name grows (0003: no
relation names it, no key moves), gets a help text (0004: no SQL reads it),
and the author's primary key becomes a ``BigAutoField`` (0005: a key
moves). No model inherits from another, so every render is counted once (a
base rendered late makes Django render a model again).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

from migration_guard.compat.migrations import clone_apps
from migration_guard.rollback.partial import render_count
from tests.conftest import Database
from tests.test_preview_sql import blocks, rollbackplan

KEYHOLDERS = {"scenario": "tests.scenarios.keyholders"}


def test_sql_renders_the_models_each_step_needs_once(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = KEYHOLDERS
    call_command("migrate", "scenario", verbosity=0)
    with render_count() as renders:
        out = rollbackplan("scenario", "zero", sql=True)
    sql = blocks(out.split("Backward SQL:\n", 1)[1])
    assert list(sql) == [
        "0005_author_bigint",
        "0004_author_help",
        "0003_author_name",
        "0002_city_name",
        "0001_initial",
    ]
    # the moved key is rewritten where it is held, the book's author_id, on
    # PostgreSQL and MariaDB (SQLite's AutoField and BigAutoField are both
    # "integer": nothing to rewrite)
    bigint = sql["0005_author_bigint"]
    assert "ALTER TABLE" in bigint and "NOT PREVIEWED" not in bigint
    assert ("scenario_book" in bigint) is (database.vendor != "sqlite")
    assert "scenario_review" not in bigint
    # a longer unique name no relation points at: the author's table only
    assert "scenario_author" in sql["0003_author_name"]
    assert "scenario_book" not in sql["0003_author_name"]
    assert "(no-op)" in sql["0004_author_help"]
    # in history order: 0001 creates its 5 models in an empty state (5), which
    # is kept for the next migrations; 0002 renders the city again after its
    # new field (1), 0003 the author (1), 0004 nothing; 0005 the author and
    # the book, which holds its key (2; Django's delayed reload would render
    # the country too, and the city pointing at it): 9. Before, 14: a state
    # rendered anew for 0002, and Django's delayed reload for 0003 and 0005.
    assert renders[0] == 9


@pytest.mark.backends("sqlite")
def test_clone_apps_is_django_clone(database: Database, settings: Any) -> None:
    """:func:`clone_apps` gives what ``StateApps.clone`` gives: the same model
    classes in new dicts, an app config per label over them, and a clone
    that changes apart from the registry it was cloned from."""
    settings.MIGRATION_MODULES = KEYHOLDERS
    apps = MigrationLoader(database.connection).project_state().apps
    mine, django = clone_apps(apps), apps.clone()

    assert mine.all_models == django.all_models == apps.all_models
    assert all(
        mine.all_models[label] is not models
        for label, models in apps.all_models.items()
    )
    assert sorted(mine.app_configs) == sorted(django.app_configs)
    for label, config in mine.app_configs.items():
        assert config.apps is mine
        assert config.models is mine.all_models[label]
        assert config.models == django.app_configs[label].models
    assert mine.real_models is apps.real_models
    assert set(mine.get_models()) == set(django.get_models())

    mine.unregister_model("scenario", "book")
    assert "book" not in mine.all_models["scenario"]
    assert "book" in apps.all_models["scenario"]
    assert apps.get_model("scenario", "book") is django.get_model("scenario", "book")
