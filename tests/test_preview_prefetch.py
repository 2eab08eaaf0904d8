"""Constraint reads answered ahead by a second session (``rollback.prefetch``).

The backward SQL a preview prints must be the SQL it prints reading every
constraint itself: the same statements, the same NOT PREVIEWED marks with
the schema editor's own errors. The thread must really answer (a count, so
that a prefetch that never runs fails here), close its session, give the
interpreter's switch interval back, and stay out of transactions and SQLite.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models, transaction
from django.db.migrations import AlterField, Migration

from migration_guard.rollback import prefetch
from migration_guard.rollback.backward_sql import BackwardSQL
from migration_guard.rollback.prefetch import ConstraintPrefetch, named_tables
from migration_guard.run.planning import TargetSpec, build_plan
from tests.conftest import Database
from tests.test_preview_sql import rollbackplan

TOGETHER = {"scenario": "tests.scenarios.together"}
KEYHOLDERS = {"scenario": "tests.scenarios.keyholders"}


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many reads each prefetch of the test answered, noted as it closes.

    The preview waits for the thread to read all its tables before it starts:
    on plans this small it would otherwise mostly be ahead of the thread.
    """
    counts: list[int] = []
    close, start = ConstraintPrefetch.close, ConstraintPrefetch.__init__

    def started(self: ConstraintPrefetch, *args: Any) -> None:
        start(self, *args)
        assert self.finished.wait(30)

    def noted(self: ConstraintPrefetch) -> None:
        close(self)
        counts.append(self.answered)

    monkeypatch.setattr(ConstraintPrefetch, "close", noted)
    monkeypatch.setattr(ConstraintPrefetch, "__init__", started)
    return counts


def sessions(database: Database) -> int:
    """How many sessions the server has open on ``database``."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        if database.vendor == "postgresql"
        else "SELECT count(*) FROM information_schema.processlist WHERE db = %s"
    )
    return int(database.query(sql, [database.name])[0][0])


def sessions_settle(database: Database, expected: int) -> int:
    """:func:`sessions`, once it is ``expected`` (a closed session's server
    process leaves PostgreSQL's ``pg_stat_activity`` a moment after the
    client closed it), or after 5 s."""
    for _ in range(50):
        found = sessions(database)
        if found == expected:
            break
        time.sleep(0.1)
    return found


def inline(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """``rollbackplan ARGS --sql`` reading every constraint itself."""
    with monkeypatch.context() as patch:
        patch.setattr(prefetch, "VENDORS", ())
        return rollbackplan(*args, sql=True)


@pytest.mark.backends("postgresql", "mysql")
@pytest.mark.parametrize("modules", [TOGETHER, KEYHOLDERS], ids=["together", "keys"])
def test_prefetched_sql_is_the_sql_read_inline(
    database: Database,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
    modules: dict[str, str],
) -> None:
    settings.MIGRATION_MODULES = modules
    call_command("migrate", "scenario", verbosity=0)

    ahead = rollbackplan("scenario", "zero", sql=True)
    assert len(answered) == 1
    # the unique_together reads the shelf's table, which the thread has read;
    # the primary key of the keyholders' author (a model the code does not
    # have) makes the editor read the book pointing at it, not named ahead
    assert answered[0] >= (1 if modules is TOGETHER else 0)
    assert ahead == inline(monkeypatch, "scenario", "zero")
    assert len(answered) == 1  # the inline run made no prefetch
    if modules is TOGETHER:  # the editor's own error, from the thread's answer
        assert "ValueError: Found wrong number (0) of constraints" in ahead


@pytest.mark.backends("postgresql", "mysql")
def test_a_read_that_fails_in_the_thread_is_read_again(
    database: Database,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
) -> None:
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    expected = inline(monkeypatch, "scenario", "zero")
    introspection = type(database.connection.introspection)
    get_constraints = introspection.get_constraints
    threads: set[str] = set()

    def failing(self: Any, cursor: Any, table: str) -> Any:
        name = threading.current_thread().name
        if name == "migration-guard-prefetch":
            threads.add(name)
            raise ConnectionError(f"the thread lost its session reading {table}")
        return get_constraints(self, cursor, table)

    monkeypatch.setattr(introspection, "get_constraints", failing)
    assert rollbackplan("scenario", "zero", sql=True) == expected
    assert threads and answered == [0]


@pytest.mark.backends("postgresql", "mysql")
def test_a_read_stuck_in_the_thread_does_not_hang_the_preview(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session stuck behind a lock: the preview reads the table itself after
    ``WAIT`` and leaves the thread behind."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    expected = inline(monkeypatch, "scenario", "zero")
    introspection = type(database.connection.introspection)
    get_constraints = introspection.get_constraints
    release, entered = threading.Event(), threading.Event()
    stuck: list[str] = []

    def blocking(self: Any, cursor: Any, table: str) -> Any:
        if threading.current_thread().name == "migration-guard-prefetch":
            stuck.append(table)
            entered.set()
            release.wait(30)
        return get_constraints(self, cursor, table)

    start = ConstraintPrefetch.__init__

    def started(self: ConstraintPrefetch, *args: Any) -> None:
        start(self, *args)
        assert entered.wait(30)  # the thread is stuck before the preview reads

    monkeypatch.setattr(introspection, "get_constraints", blocking)
    monkeypatch.setattr(ConstraintPrefetch, "__init__", started)
    monkeypatch.setattr(prefetch, "WAIT", 0.2)
    try:
        assert rollbackplan("scenario", "zero", sql=True) == expected
        assert stuck == ["scenario_shelf"]
    finally:
        release.set()
        for thread in threading.enumerate():  # its session, before the drop
            if thread.name == "migration-guard-prefetch":
                thread.join(10)


@pytest.mark.backends("postgresql", "mysql")
def test_the_thread_closes_its_session_and_gives_the_interval_back(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    interval = sys.getswitchinterval()
    before = sessions(database)
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    with BackwardSQL(plan) as collector:
        assert collector.prefetch is not None
        assert sys.getswitchinterval() == pytest.approx(prefetch.SWITCH_INTERVAL)
    assert collector.prefetch is None
    assert sys.getswitchinterval() == interval
    assert sessions_settle(database, before) == before


@pytest.mark.backends("postgresql", "mysql", "sqlite")
def test_no_second_session_inside_a_transaction_or_on_sqlite(
    database: Database, settings: Any
) -> None:
    """Uncommitted changes are the transaction's own, an SQLite database the
    connection's: the preview reads every constraint itself."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    with BackwardSQL(plan) as collector:
        assert (collector.prefetch is None) is (database.vendor == "sqlite")
    with transaction.atomic(), BackwardSQL(plan) as collector:
        assert collector.prefetch is None


@pytest.mark.backends("sqlite")
def test_named_tables_in_walk_order_without_created_or_deleted_models(
    database: Database, settings: Any
) -> None:
    """Each table once, with the first migration naming it; CreateModel and
    DeleteModel read nothing; a model of the code gives its many-to-many
    tables too (``auth.User``: its groups and permissions)."""
    settings.MIGRATION_MODULES = TOGETHER
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    loader = plan.loader
    migrations = [
        loader.graph.nodes[("scenario", name)]
        for name in ("0001_initial", "0002_shelf_unique", "0006_shelf_parent")
    ]
    assert named_tables(migrations) == [(1, "scenario_shelf")]
    user = loader.graph.nodes[("auth", "0002_alter_permission_name_max_length")]
    assert named_tables([user]) == [(0, "auth_permission")]
    users = loader.graph.nodes[("auth", "0003_alter_user_email_max_length")]
    assert named_tables([users]) == [
        (0, "auth_user"),
        (0, "auth_user_groups"),
        (0, "auth_user_user_permissions"),
    ]
    # an altered primary key: the tables pointing at it are read too (their
    # foreign keys are rewritten); the admin's log entries point at users
    bigger = Migration("0099_user_bigint", "auth")
    bigger.operations = [
        AlterField("user", "id", models.BigAutoField(primary_key=True))
    ]
    referrers = [
        rel.related_model._meta.db_table
        for rel in get_user_model()._meta.related_objects
    ]
    assert "django_admin_log" in referrers
    own = ["auth_user", "auth_user_groups", "auth_user_user_permissions"]
    assert named_tables([bigger]) == [(0, table) for table in [*own, *referrers]]
