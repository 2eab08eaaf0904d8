"""The tables a plan can change (the scope of a plan-scoped backup).

Real plans of a scenario package on the three backends: the plan is built
against a database migrated to the step before, as ``guardedmigrate`` builds it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
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


def test_a_declared_table_the_plan_creates_keeps_the_scope_bounded(
    scope_scenario: Database,
) -> None:
    """0003 declares ``library_shelf`` by name; from an empty database 0001
    creates it in the same plan, which is no typo."""
    call_command("migrate", "contenttypes", verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", "0003_backfill"))
    scope = plan_scope(plan, connection)
    assert scope.unbounded == ()
    assert "library_shelf" in scope.tables


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
            "write any table (declare the tables it writes in "
            "MIGRATION_GUARD['POST_MIGRATE_WRITES'] under the key "
            "'tests.test_plan_scope._seed_groups', [] when it writes none, or "
            "give the function a migration_guard_writes list)",
        )
        _seed_groups.migration_guard_writes = ["auth_group"]  # type: ignore[attr-defined]
        scope = scope_of(scope_scenario, "0001", "0002")
        assert not scope.full
        assert "auth_group" in scope.tables
    finally:
        post_migrate.disconnect(dispatch_uid="test_seed_groups")
        vars(_seed_groups).pop("migration_guard_writes", None)


SEED_GROUPS = "tests.test_plan_scope._seed_groups"


@pytest.fixture
def seed_groups(scope_scenario: Database) -> Iterator[None]:
    """``_seed_groups`` connected to post_migrate for one test, and the auth
    tables it writes made."""
    from django.db.models.signals import post_migrate

    call_command("migrate", "auth", verbosity=0)
    post_migrate.connect(_seed_groups, dispatch_uid="test_seed_groups")
    yield
    post_migrate.disconnect(dispatch_uid="test_seed_groups")


def test_a_receiver_declared_by_the_setting_keeps_the_scope_bounded(
    scope_scenario: Database, seed_groups: None, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {"POST_MIGRATE_WRITES": {SEED_GROUPS: ["auth_group"]}}
    scope = scope_of(scope_scenario, "0001", "0002")
    assert scope.unbounded == ()
    assert scope.tables - ALWAYS == {"scenario_book", "library_shelf", "auth_group"}


def test_a_receiver_declared_to_write_nothing_adds_no_table(
    scope_scenario: Database, seed_groups: None, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {"POST_MIGRATE_WRITES": {SEED_GROUPS: []}}
    scope = scope_of(scope_scenario, "0001", "0002")
    assert scope.unbounded == ()
    assert scope.tables - ALWAYS == {"scenario_book", "library_shelf"}


def test_a_table_the_setting_declares_must_exist(
    scope_scenario: Database, seed_groups: None, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {
        "POST_MIGRATE_WRITES": {SEED_GROUPS: ["auth_group", "auth_grop"]}
    }
    scope = scope_of(scope_scenario, "0001", "0002")
    assert scope.unbounded == (
        "MIGRATION_GUARD['POST_MIGRATE_WRITES']['tests.test_plan_scope._seed_groups'] "
        "names table 'auth_grop', which neither exists nor is created by the plan",
    )


def test_a_table_the_plan_creates_may_be_declared_by_the_setting(
    scope_scenario: Database, seed_groups: None, settings: Any
) -> None:
    """On a fresh database the receiver's table is made by the same plan."""
    settings.MIGRATION_GUARD = {"POST_MIGRATE_WRITES": {SEED_GROUPS: ["scenario_tag"]}}
    call_command("migrate", "contenttypes", verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", "0001_initial"))
    scope = plan_scope(plan, connection)
    assert scope.unbounded == ()
    assert "scenario_tag" in scope.tables


def test_the_setting_adds_to_what_is_known_and_never_removes(
    scope_scenario: Database, seed_groups: None, settings: Any
) -> None:
    """A declaration of a known receiver, or of one with the attribute, adds
    its tables: it cannot take a table the receiver writes out of the scope."""
    settings.MIGRATION_GUARD = {
        "POST_MIGRATE_WRITES": {
            "django.contrib.sites.management.create_default_site": [],
            SEED_GROUPS: ["auth_group"],
        }
    }
    _seed_groups.migration_guard_writes = ["auth_user"]  # type: ignore[attr-defined]
    try:
        scope = scope_of(scope_scenario, "0001", "0002")
    finally:
        vars(_seed_groups).pop("migration_guard_writes")
    assert scope.unbounded == ()
    assert scope.tables - ALWAYS == {
        "scenario_book",
        "library_shelf",
        "auth_group",
        "auth_user",
    }
    assert "django_site" in scope.tables


class _Seeder:
    """A receiver that is a bound method, or a callable instance."""

    def seed(self, **kwargs: Any) -> None:
        pass

    def __call__(self, **kwargs: Any) -> None:
        pass


def test_receivers_are_named_by_the_code_they_run(
    scope_scenario: Database, settings: Any
) -> None:
    """A bound method (held by a weak reference) by ``module.Class.method``, a
    ``functools.partial`` by its function, a callable instance by its class:
    names that do not change between processes, so the setting can use them."""
    from django.db.models.signals import post_migrate

    call_command("migrate", "auth", verbosity=0)
    seeder = _Seeder()
    partial = functools.partial(_seed_groups, extra=1)
    for uid, receiver in (("m", seeder.seed), ("p", partial), ("c", seeder)):
        post_migrate.connect(receiver, dispatch_uid=f"test_named_{uid}")
    try:
        scope = scope_of(scope_scenario, "0001", "0002")
        assert [reason.split(" may ")[0] for reason in scope.unbounded] == [
            "the post_migrate receiver tests.test_plan_scope._Seeder",
            "the post_migrate receiver tests.test_plan_scope._Seeder.seed",
            "the post_migrate receiver tests.test_plan_scope._seed_groups",
        ]
        settings.MIGRATION_GUARD = {
            "POST_MIGRATE_WRITES": {
                "tests.test_plan_scope._Seeder": [],
                "tests.test_plan_scope._Seeder.seed": ["auth_group"],
                SEED_GROUPS: ["auth_user"],
            }
        }
        scope = scope_of(scope_scenario, "0001", "0002")
        assert scope.unbounded == ()
        assert {"auth_group", "auth_user"} <= scope.tables
    finally:
        for uid in "mpc":
            post_migrate.disconnect(dispatch_uid=f"test_named_{uid}")


def test_a_bad_setting_is_refused_when_a_scope_is_read(
    scope_scenario: Database, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {"POST_MIGRATE_WRITES": {SEED_GROUPS: "auth_group"}}
    with pytest.raises(UsageError) as error:
        scope_of(scope_scenario, "0001", "0002")
    assert str(error.value) == (
        "MIGRATION_GUARD['POST_MIGRATE_WRITES']['tests.test_plan_scope._seed_groups'] "
        "is 'auth_group', not a list of table names. Map each receiver's "
        "module.qualname to the tables it writes, e.g. "
        '{"thirdparty.signals.create_defaults": ["thirdparty_defaults"], '
        '"otherapp.handlers.noop": []} ([]: it writes nothing).'
    )
