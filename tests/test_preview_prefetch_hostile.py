"""The constraint reads answered ahead (``rollback.prefetch``), used as a
hostile project would: previews that overlap, Ctrl-C, a thread failing in a
way that is not the database's, a session whose schema path is not the
default one. The preview must print what it prints reading every constraint
itself, and leave no thread, session or switch interval behind."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from migration_guard.rollback import prefetch
from migration_guard.rollback.backward_sql import BackwardSQL
from migration_guard.run.planning import TargetSpec, build_plan
from tests.conftest import Database
from tests.test_preview_prefetch import TOGETHER, answered, inline, sessions_settle
from tests.test_preview_sql import rollbackplan

__all__ = ["answered"]  # the fixture, shared

THREAD = "migration-guard-prefetch"


def threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD and t.is_alive()]


@pytest.mark.backends("postgresql", "mysql")
def test_overlapping_previews_give_the_interval_back(
    database: Database, settings: Any
) -> None:
    """Two previews at once (two threads of a program, each its own
    connection), the first closed first: the interval is the program's again
    once both are closed, not the 0.2 ms the second one found."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    interval = sys.getswitchinterval()
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    first = BackwardSQL(plan)
    second = BackwardSQL(plan)
    assert first.prefetch is not None and second.prefetch is not None
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(prefetch.SWITCH_INTERVAL)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == interval


@pytest.mark.backends("postgresql", "mysql")
def test_ctrl_c_while_the_preview_waits_for_the_thread(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands while ``close`` waits for the thread's last read: the
    interval is given back all the same, and the thread, told to stop,
    closes its session."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    interval = sys.getswitchinterval()
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    collector = BackwardSQL(plan)
    assert collector.prefetch is not None
    thread = collector.prefetch._thread
    join = threading.Thread.join

    def interrupted(self: threading.Thread, timeout: float | None = None) -> None:
        if self is thread:
            raise KeyboardInterrupt
        join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", interrupted)
    with pytest.raises(KeyboardInterrupt):
        collector.__exit__(None, None, None)
    monkeypatch.undo()
    assert sys.getswitchinterval() == interval
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.backends("postgresql", "mysql")
def test_ctrl_c_during_the_walk_leaves_nothing_behind(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    interval = sys.getswitchinterval()
    sessions = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        if database.vendor == "postgresql"
        else "SELECT count(*) FROM information_schema.processlist WHERE db = %s"
    )
    before = database.query(sessions, [database.name])

    def interrupted(self: BackwardSQL, visit: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(BackwardSQL, "visit", interrupted)
    for _ in range(3):  # the command reports it as an interrupted run
        with pytest.raises((KeyboardInterrupt, CommandError)):
            rollbackplan("scenario", "zero", sql=True)
    assert threads() == []
    assert sys.getswitchinterval() == interval
    assert sessions_settle(database, sessions, before) == before


@pytest.mark.backends("postgresql", "mysql")
def test_no_thread_or_session_left_after_many_previews(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    first = rollbackplan("scenario", "zero", sql=True)
    count = threading.active_count()
    for _ in range(25):
        assert rollbackplan("scenario", "zero", sql=True) == first
    assert threads() == []
    assert threading.active_count() == count


@pytest.mark.backends("postgresql", "mysql")
def test_a_failure_in_the_thread_that_is_not_the_databases_prints_nothing(
    database: Database,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The thread's session fails with an error that is not a
    ``DatabaseError`` (a socket error of the driver, a project's
    ``connection_created`` receiver): the preview reads every table itself,
    and no traceback of the thread reaches stderr."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    expected = inline(monkeypatch, "scenario", "zero")
    introspection = type(database.connection.introspection)
    table_names = introspection.table_names
    failed: list[str] = []

    def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == THREAD:
            failed.append(THREAD)
            raise ConnectionResetError("the thread's socket was reset")
        return table_names(self, *args, **kwargs)

    hooked: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    monkeypatch.setattr(introspection, "table_names", failing)
    capsys.readouterr()
    assert rollbackplan("scenario", "zero", sql=True) == expected
    for thread in threads():
        thread.join(10)
    assert failed == [THREAD]
    assert hooked == []
    assert capsys.readouterr().err == ""


@pytest.mark.backends("postgresql")
def test_a_session_on_another_schema_path_is_not_answered_by_the_default_one(
    database: Database,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
) -> None:
    """A schema-per-tenant project sets ``search_path`` on its connection
    (django-tenants and the like) and previews the tenant's revert: the
    thread's new session has the default path, and would read the
    constraints of the public schema's tables of the same names."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", "0006_shelf_parent", verbosity=0)
    # the public copy of the shelf's foreign key to its parent has another
    # name than the tenant's (the revert of 0006 drops it by name)
    ((name,),) = database.query(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'scenario_shelf'::regclass"
        " AND contype = 'f'"
    )
    database.query(
        f'ALTER TABLE scenario_shelf RENAME CONSTRAINT "{name}" TO public_fk'
    )
    database.query("CREATE SCHEMA tenant")
    database.query("SET search_path TO tenant")
    call_command("migrate", "scenario", "0006_shelf_parent", verbosity=0)
    assert database.query("SELECT current_schema()") == [("tenant",)]
    expected = inline(monkeypatch, "scenario", "0005_shelf_note")
    assert f'DROP CONSTRAINT "{name}"' in expected
    assert rollbackplan("scenario", "0005_shelf_note", sql=True) == expected
    assert answered == [0]
