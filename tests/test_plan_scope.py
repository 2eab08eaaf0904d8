"""The tables a plan can change (the scope of a plan-scoped backup).

Real plans of a scenario package on the three backends: the plan is built
against a database migrated to the step before, as ``guardedmigrate`` builds it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from migration_guard.backup.plan_scope import Scope, plan_scope
from migration_guard.exceptions import UsageError
from migration_guard.run.planning import TargetSpec, build_plan
from tests.conftest import Database

SCOPE = {"scenario": "tests.scenarios.scope"}
#: what every non-empty plan writes besides its own tables
ALWAYS = {
    "django_migrations",
    "django_content_type",
    "auth_permission",
    "django_site",  # post_migrate: django.contrib.sites' default site
    "migration_guard_migrationrun",
}


def scope_of(database: Database, applied: str, target: str) -> Scope:
    call_command("migrate", "scenario", applied, verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", target))
    return plan_scope(plan, connection)


@pytest.fixture
def scope_scenario(database: Database, settings: Any) -> Database:
    settings.MIGRATION_MODULES = SCOPE
    return database


def test_always_holds_the_history_the_ledger_and_post_migrate_tables(
    scope_scenario: Database,
) -> None:
    assert scope_of(scope_scenario, "0001", "0002").tables >= ALWAYS


def test_create_model_scopes_its_table_and_its_many_to_many_table(
    scope_scenario: Database,
) -> None:
    call_command("migrate", "contenttypes", verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", "0001_initial"))
    scope = plan_scope(plan, connection)
    assert scope.tables - ALWAYS == {
        "scenario_author",
        "scenario_tag",
        "scenario_book",
        "scenario_book_tags",
        "library_shelf",
    }
    assert not scope.full


def test_add_field_and_add_index_scope_only_their_tables(
    scope_scenario: Database,
) -> None:
    scope = scope_of(scope_scenario, "0001", "0002")
    assert scope.tables - ALWAYS == {"scenario_book", "library_shelf"}


def test_declared_writes_scope_code_operations(scope_scenario: Database) -> None:
    scope = scope_of(scope_scenario, "0002", "0003")
    assert scope.tables - ALWAYS == {"scenario_book", "library_shelf"}
    assert scope.unbounded == ()


def test_rename_model_scopes_both_names_and_the_tables_pointing_at_it(
    scope_scenario: Database,
) -> None:
    scope = scope_of(scope_scenario, "0003", "0004")
    assert scope.tables - ALWAYS == {
        "scenario_author",
        "scenario_writer",
        "scenario_book",
    }


def test_dropping_a_many_to_many_and_its_model(scope_scenario: Database) -> None:
    scope = scope_of(scope_scenario, "0004", "0005")
    assert scope.tables - ALWAYS == {
        "scenario_book",
        "scenario_book_tags",
        "scenario_tag",
    }


def test_a_backward_plan_scopes_what_it_undoes(scope_scenario: Database) -> None:
    scope = scope_of(scope_scenario, "0005", "0003")
    assert scope.tables - ALWAYS == {
        "scenario_author",
        "scenario_writer",
        "scenario_book",
        "scenario_book_tags",
        "scenario_tag",
    }


def test_undeclared_code_makes_the_scope_unbounded_and_says_where(
    scope_scenario: Database,
) -> None:
    scope = scope_of(scope_scenario, "0005", "0006")
    assert scope.full
    assert scope.unbounded == (
        "scenario.0006_undeclared operations[0] RunSQL declares no tables it "
        "writes (migration_guard_writes on the migration)",
    )


def test_an_unknown_operation_makes_the_scope_unbounded(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.customop"}
    plan = build_plan("default", TargetSpec("scenario", "0001_freeze"))
    assert plan_scope(plan, connection).unbounded == (
        "scenario.0001_freeze operations[0] Freeze is not an operation whose "
        "tables can be known",
    )


def test_a_declared_model_that_does_not_exist_is_refused(
    scope_scenario: Database, settings: Any
) -> None:
    migration = import_module("tests.scenarios.scope.0003_backfill").Migration
    original = migration.migration_guard_writes
    migration.migration_guard_writes = ["scenario.Nope"]
    try:
        with pytest.raises(UsageError) as error:
            scope_of(scope_scenario, "0002", "0003")
    finally:
        migration.migration_guard_writes = original
    assert str(error.value) == (
        "scenario.0003_backfill: migration_guard_writes names 'scenario.Nope', "
        "which is not a model at this point of the history. Name models as "
        '"app_label.ModelName", or give the table name.'
    )


def test_an_empty_plan_has_an_empty_scope(scope_scenario: Database) -> None:
    scope = scope_of(scope_scenario, "0006", "0006")
    assert scope == Scope(frozenset())


def _seed_groups(**kwargs: Any) -> None:
    """A project's own post_migrate receiver (writes auth_group)."""


def test_an_unknown_post_migrate_receiver_makes_the_scope_unbounded(
    scope_scenario: Database,
) -> None:
    from django.db.models.signals import post_migrate

    post_migrate.connect(_seed_groups, dispatch_uid="test_seed_groups")
    try:
        scope = scope_of(scope_scenario, "0001", "0002")
        assert scope.unbounded == (
            "the post_migrate receiver tests.test_plan_scope._seed_groups may "
            "write any table (give the function a migration_guard_writes list "
            "of the tables it writes)",
        )
        _seed_groups.migration_guard_writes = ["auth_group"]  # type: ignore[attr-defined]
        scope = scope_of(scope_scenario, "0001", "0002")
        assert not scope.full
        assert "auth_group" in scope.tables
    finally:
        post_migrate.disconnect(dispatch_uid="test_seed_groups")
        vars(_seed_groups).pop("migration_guard_writes", None)
