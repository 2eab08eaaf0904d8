"""Each function of :mod:`migration_guard.compat` gives what Django itself gives.

Every private Django API the package uses goes through ``migration_guard.compat``;
each test here runs one of its functions on real migrations (the testproject's
apps and the ``allfields`` scenario) and compares it with Django's own,
public result, on each backend where the API is per backend. The tox matrix
runs this module on Django 5.2, 6.0 and 6.1 (``tests/test_compat_layer.py``
keeps the layer the only one).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, OutputWrapper
from django.core.management.commands import check, migrate
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.db.models.options import Options as DjangoOptions

from migration_guard.admin import Backup
from migration_guard.compat.backends import (
    light_sqlite_introspection,
    mysql_check_columns,
    nodb_cursor,
    replace_introspection,
    runner_database_name,
)
from migration_guard.compat.management import (
    called_from_command_line,
    parser_actions,
    raw_stream,
    signal_receivers,
)
from migration_guard.compat.migrations import (
    applied_state,
    apply_keeping_states,
    reload_models,
    unapply_with_states,
)
from migration_guard.compat.models import (
    Options,
    effective_default,
    isolated_apps,
    m2m_db_table,
)
from migration_guard.reconcile.schema.backends import backend_for
from migration_guard.reconcile.schema.lightstate import LightApps
from tests.conftest import Database

SCENARIO = {"scenario": "tests.scenarios.allfields"}
PROJECT_APPS = {"accounts", "catalog", "orders", "scenario"}


def own_migrations(loader: MigrationLoader) -> list[Migration]:
    """The testproject's and the scenario's migrations, in plan order."""
    executor_plan = [
        migration
        for migration, _ in MigrationExecutor(loader.connection).migration_plan(
            loader.graph.leaf_nodes(), clean_start=True
        )
    ]
    return [m for m in executor_plan if m.app_label in PROJECT_APPS]


def statements(collected: list[str]) -> list[str]:
    """SQL statements, without the comments ``collect_sql`` adds per operation."""
    return [line for line in collected if not line.startswith("--")]


def in_any_column_order(vendor: str, sql: list[str]) -> list[Any]:
    """SQLite's table rebuilds may list the columns in another order.

    A rebuilt model orders its fields by creation counter, and the states
    the apply kept were rendered before the ones Django's ``unapply`` makes
    afresh (see :func:`~migration_guard.compat.migrations.unapply_with_states`).
    Every statement has the same words, up to that order.
    """
    if vendor != "sqlite":
        return list(sql)
    return [sorted(re.split(r"[\s,()]+", statement)) for statement in sql]


# --- migrations ---------------------------------------------------------


@pytest.mark.backends("sqlite")
def test_applied_state_is_the_loaders_state_of_the_applied_migrations(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SCENARIO
    call_command("migrate", "scenario", "0003", verbosity=0)
    call_command("migrate", "accounts", "0002", verbosity=0)
    executor = MigrationExecutor(database.connection)
    applied = [key for key in executor.loader.applied_migrations]
    assert ("scenario", "0004_removals") not in applied
    assert ("accounts", "0003_set_has_profile_picture") not in applied

    state = applied_state(executor)
    django_state = executor.loader.project_state(applied)

    assert state.real_apps == django_state.real_apps
    assert sorted(state.models) == sorted(django_state.models)
    for key, model_state in django_state.models.items():
        assert state.models[key] == model_state, key
    assert ("scenario", "everything") in state.models


@pytest.mark.backends("sqlite")
def test_reload_models_renders_only_the_models_asked_for(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SCENARIO
    loader = MigrationLoader(database.connection)
    state = loader.project_state()
    before = {m._meta.label_lower: m for m in state.apps.get_models()}
    order = before["orders.order"]
    fresh = ProjectState(state.models, state.real_apps).apps.get_model(
        "orders", "order"
    )

    reload_models(state, {("orders", "order")})

    after = {m._meta.label_lower: m for m in state.apps.get_models()}
    assert after["orders.order"] is not order
    assert [f.deconstruct() for f in after["orders.order"]._meta.local_fields] == [
        f.deconstruct() for f in fresh._meta.local_fields
    ]
    unchanged = [name for name in before if after[name] is before[name]]
    assert sorted(unchanged) == sorted(set(before) - {"orders.order"})


def applied_by_copy(
    connection: Any, migration: Migration, state: ProjectState
) -> tuple[list[str], list[ProjectState]]:
    """The SQL our copy of ``apply`` sends for ``migration``, and the states kept."""
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        states = apply_keeping_states(migration, state.clone(), editor)
    return statements(editor.collected_sql), states


def unapplied_by_copy(
    connection: Any, migration: Migration, states: list[ProjectState]
) -> list[str]:
    """The SQL our copy of ``unapply`` sends for ``migration``."""
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        unapply_with_states(migration, states, editor)
    return statements(editor.collected_sql)


def test_apply_and_unapply_copies_send_djangos_sql(
    database: Database, settings: Any
) -> None:
    """Every migration of the project: ``sqlmigrate`` and ``--backwards``'s SQL.

    Each on the database migrated up to it (forwards) and then past it
    (backwards): the schema editor reads constraint names there.
    """
    settings.MIGRATION_MODULES = SCENARIO
    connection = database.connection
    loader = MigrationLoader(connection)
    compared = 0
    for migration in own_migrations(loader):
        key = (migration.app_label, migration.name)
        if not all(op.reduces_to_sql for op in migration.operations):
            call_command("migrate", *key, verbosity=0)
            continue  # our copies run RunPython's code; collect_sql skips it
        state = loader.project_state(key, at_end=False)
        try:
            djangos = statements(loader.collect_sql([(migration, False)]))
        except ValueError as refusal:  # Django 6.1's sqlmigrate of scenario.0008
            with pytest.raises(ValueError) as ours:
                applied_by_copy(connection, migration, state)
            assert str(ours.value) == str(refusal), key
            call_command("migrate", *key, verbosity=0)
            continue
        forwards, states = applied_by_copy(connection, migration, state)
        assert forwards == djangos, key
        call_command("migrate", *key, verbosity=0)
        if not all(op.reversible for op in migration.operations):
            continue
        backwards = unapplied_by_copy(connection, migration, states)
        djangos = statements(loader.collect_sql([(migration, True)]))
        assert in_any_column_order(database.vendor, backwards) == in_any_column_order(
            database.vendor, djangos
        ), key
        compared += 1
    assert compared >= 10


def test_unapply_copy_is_sqlmigrate_backwards(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SCENARIO
    call_command("migrate", "scenario", "0004", verbosity=0)
    connection = database.connection
    loader = MigrationLoader(connection)
    migration = loader.get_migration("scenario", "0005_indexes_constraints")
    state = loader.project_state(("scenario", migration.name), at_end=False)
    _, states = applied_by_copy(connection, migration, state)
    call_command("migrate", "scenario", "0005", verbosity=0)
    backwards = unapplied_by_copy(connection, migration, states)
    out = io.StringIO()
    call_command("sqlmigrate", "scenario", migration.name, backwards=True, stdout=out)
    printed = [
        line
        for line in out.getvalue().splitlines()
        if line and not line.startswith("--") and line not in ("BEGIN;", "COMMIT;")
    ]
    assert backwards
    assert in_any_column_order(database.vendor, printed) == in_any_column_order(
        database.vendor, "\n".join(backwards).splitlines()
    )


@pytest.mark.backends("sqlite")
def test_unapply_copy_refuses_an_irreversible_migration_as_django_does(
    database: Database, settings: Any
) -> None:
    loader = MigrationLoader(database.connection)
    migration = loader.get_migration("orders", "0002_uppercase_currency")
    assert not all(op.reversible for op in migration.operations)
    state = loader.project_state(("orders", migration.name), at_end=False)
    with pytest.raises(IrreversibleError) as django_refusal:
        migration.unapply(state.clone(), None)
    with pytest.raises(IrreversibleError) as ours:
        unapply_with_states(migration, [state] * 10, None)
    assert str(ours.value) == str(django_refusal.value)


# --- models -------------------------------------------------------------


def test_effective_default_is_the_schema_editors(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SCENARIO
    connection = database.connection
    state = MigrationLoader(connection).project_state()
    checked = 0
    with connection.schema_editor(collect_sql=True) as editor:
        for model in state.apps.get_models():
            for field in model._meta.concrete_fields:
                ours = field.get_db_prep_save(effective_default(field), connection)
                django_value = editor.effective_default(field)
                if (
                    getattr(field, "auto_now", False)
                    or getattr(field, "auto_now_add", False)
                    or callable(field.default)
                ):  # now, uuid4: another value each time
                    assert type(ours) is type(django_value), field
                else:
                    assert ours == django_value, field
                checked += 1
    assert checked >= 100


def test_m2m_db_table_of_an_unbound_field_is_the_rendered_fields(
    database: Database, settings: Any
) -> None:
    """Before ``contribute_to_class``, as the light stand-ins ask for it."""
    settings.MIGRATION_MODULES = SCENARIO
    state = MigrationLoader(database.connection).project_state()
    compared = []
    for model in state.apps.get_models():
        model_state = state.models[(model._meta.app_label, model._meta.model_name)]
        for rendered in model._meta.local_many_to_many:
            unbound = model_state.fields[rendered.name].clone()
            if unbound.remote_field.through is not None:
                continue  # an explicit through model: its own table
            unbound.set_attributes_from_name(rendered.name)
            assert m2m_db_table(unbound, model._meta) == rendered.m2m_db_table()
            compared.append(rendered.m2m_db_table())
    assert {"auth_user_groups", "auth_group_permissions"} <= set(compared)


def test_options_subclass_gives_the_rendered_models_tables(
    database: Database, settings: Any
) -> None:
    """``LightOptions`` (an ``Options`` subclass) against rendered models."""
    assert Options is DjangoOptions
    settings.MIGRATION_MODULES = SCENARIO
    connection = database.connection
    state = MigrationLoader(connection).project_state()
    backend = backend_for(connection)
    keys = sorted(state.models)
    light = LightApps(state, connection, backend).tables(keys)
    rendered = LightApps(state, connection, backend, render=True).tables(keys)
    assert {"allfields_everything", "orders_order", "auth_user_groups"} <= set(light)
    assert light == rendered


@pytest.mark.backends("sqlite")
def test_isolated_apps_keep_a_model_out_of_the_project(database: Database) -> None:
    assert isolated_apps() is not global_apps
    assert Backup._meta.apps is not global_apps
    assert Backup not in global_apps.get_models()
    out = io.StringIO()
    call_command(
        "makemigrations", "migration_guard", check=True, dry_run=True, stdout=out
    )
    assert out.getvalue() == "No changes detected in app 'migration_guard'\n"


# --- backends -----------------------------------------------------------


@pytest.mark.backends("postgresql", "mysql")
def test_nodb_cursor_is_on_the_server_outside_the_database(
    database: Database,
) -> None:
    connection = database.connection
    current = (
        "SELECT current_database()"
        if connection.vendor == "postgresql"
        else "SELECT DATABASE()"
    )
    with connection.cursor() as cursor:
        cursor.execute(current)
        assert cursor.fetchone() == (database.name,)
    with nodb_cursor(connection) as cursor:
        cursor.execute(current)
        assert cursor.fetchone() == (
            ("postgres",) if connection.vendor == "postgresql" else (None,)
        )


@pytest.mark.backends("postgresql", "mysql")
def test_test_database_name_is_the_test_runners(database: Database) -> None:
    connection = database.connection
    assert runner_database_name(connection) == f"test_{database.name}"
    assert (
        runner_database_name(connection) == connection.creation.test_db_signature()[-1]
    )
    connection.settings_dict["TEST"]["NAME"] = "chosen"
    try:
        assert runner_database_name(connection) == "chosen"
        assert connection.creation.test_db_signature()[-1] == "chosen"
    finally:
        connection.settings_dict["TEST"]["NAME"] = None


class _Counting:
    def __init__(self, introspection: Any) -> None:
        self.wrapped = introspection
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.asked.append(name)
        return getattr(self.wrapped, name)


def test_replaced_introspection_is_the_one_django_reads(database: Database) -> None:
    connection = database.connection
    original = connection.introspection
    MigrationRecorder(connection).ensure_schema()
    stand_in = _Counting(original)
    assert replace_introspection(connection, stand_in) is original
    try:
        assert MigrationRecorder(connection).has_table()
    finally:
        assert replace_introspection(connection, original) is stand_in
    assert "table_names" in stand_in.asked
    assert connection.introspection is original


@pytest.mark.backends("mysql")
def test_mysql_check_columns_are_get_constraints_columns(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SCENARIO
    call_command("migrate", verbosity=0)
    connection = database.connection
    introspection = connection.introspection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE "
            "FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE()"
        )
        checks = cursor.fetchall()
        compared = 0
        for table, name, clause in checks:
            django_constraints = introspection.get_constraints(cursor, table)
            if name not in django_constraints:
                continue  # unnamed: Django renames it __unnamed_constraint_N__
            columns = [
                c.name for c in introspection.get_table_description(cursor, table)
            ]
            ours = mysql_check_columns(introspection, clause, columns)
            assert list(ours) == list(django_constraints[name]["columns"]), name
            compared += 1
    assert compared >= 3


@pytest.mark.backends("sqlite")
def test_light_sqlite_introspection_is_djangos_without_collations_and_orders(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = SCENARIO
    call_command("migrate", verbosity=0)
    connection = database.connection
    django_introspection = connection.introspection
    light_class = light_sqlite_introspection(type(django_introspection))
    assert light_sqlite_introspection(type(django_introspection)) is light_class
    light = light_class(connection)
    with connection.cursor() as cursor:
        names = django_introspection.table_names(cursor)
        for name in names:
            djangos = django_introspection.get_table_description(cursor, name)
            described = light.get_table_description(cursor, name)
            assert [info._replace(collation=None) for info in djangos] == described
            constraints = django_introspection.get_constraints(cursor, name)
            for constraint in constraints.values():
                constraint.pop("orders", None)
            assert light.get_constraints(cursor, name) == constraints, name
    assert {"allfields_everything", "orders_order"} <= set(names)


# --- management ---------------------------------------------------------


def test_raw_stream_is_the_wrapped_file_without_endings() -> None:
    out = io.StringIO()
    command = BaseCommand(stdout=out)
    assert raw_stream(command.stdout) is out
    assert raw_stream(out) is out
    command.stdout.write("wrapped")
    raw_stream(command.stdout).write("raw")
    assert out.getvalue() == "wrapped\nraw"
    assert raw_stream(OutputWrapper(out)) is out


@pytest.mark.backends("sqlite")
def test_called_from_command_line_after_run_from_argv_only(database: Database) -> None:
    command = check.Command(stdout=io.StringIO(), stderr=io.StringIO())
    assert not called_from_command_line(command)
    call_command(command)
    assert not called_from_command_line(command)
    command.run_from_argv(["manage.py", "check"])
    assert called_from_command_line(command)


def test_parser_actions_are_the_arguments_django_parses() -> None:
    parser = migrate.Command().create_parser("manage.py", "migrate")
    dests = {action.dest for action in parser_actions(parser)}
    parsed = set(vars(parser.parse_args([])))
    assert {"database", "app_label", "migration_name", "fake"} <= parsed
    assert parsed <= dests
    assert dests - parsed == {"help", "version"}


def test_signal_receivers_are_the_connected_functions() -> None:
    from django.db.models.signals import post_migrate

    def receiver(**kwargs: Any) -> None:
        """Connected weakly, as Django connects by default."""

    post_migrate.connect(receiver, dispatch_uid="test_signal_receivers")
    try:
        found = signal_receivers(post_migrate)
        assert receiver in found
        create = "django.contrib.contenttypes.management.create_contenttypes"
        assert create in {f"{f.__module__}.{f.__qualname__}" for f in found}
    finally:
        post_migrate.disconnect(dispatch_uid="test_signal_receivers")
    assert receiver not in signal_receivers(post_migrate)
