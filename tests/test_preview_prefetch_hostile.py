"""The constraint reads answered ahead (``rollback.prefetch``), used as a
hostile project would: previews that overlap, Ctrl-C, a thread failing in a
way that is not the database's, a session whose schema path is not the
default one. The preview must print what it prints reading every constraint
itself, and leave no thread, session or switch interval behind."""

from __future__ import annotations

import sys
import tempfile
import threading
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from migration_guard.rollback import prefetch
from migration_guard.rollback.backward_sql import BackwardSQL
from migration_guard.rollback.prefetch import ConstraintPrefetch
from migration_guard.run.planning import TargetSpec, build_plan
from tests.conftest import Database
from tests.test_preview_prefetch import (
    TOGETHER,
    answered,
    inline,
    sessions,
    sessions_settle,
)
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
    before = sessions(database)

    def interrupted(self: BackwardSQL, visit: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(BackwardSQL, "visit", interrupted)
    for _ in range(3):  # the command reports it as an interrupted run
        with pytest.raises((KeyboardInterrupt, CommandError)):
            rollbackplan("scenario", "zero", sql=True)
    assert threads() == []
    assert sys.getswitchinterval() == interval
    assert sessions_settle(database, before) == before


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


@pytest.mark.backends("postgresql", "mysql")
def test_another_alias_is_read_on_its_own_database(
    make_database: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
) -> None:
    """``--database other``: the thread's session is made from the other
    alias's settings, not the default's (whose database has no such table)."""
    settings.MIGRATION_MODULES = TOGETHER
    make_database()
    make_database("other")
    call_command(
        "migrate", "scenario", "0006_shelf_parent", database="other", verbosity=0
    )
    args = ("scenario", "0005_shelf_note", "--database", "other")
    expected = inline(monkeypatch, *args)
    assert "DROP CONSTRAINT" in expected or "DROP FOREIGN KEY" in expected
    assert rollbackplan(*args, sql=True) == expected
    assert answered == [1]


@pytest.mark.backends("postgresql", "mysql")
def test_previews_from_threads_of_a_program(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``call_command`` from four threads at once (each its own connection):
    each prints the SQL read inline, and the program's interval is back."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", "0006_shelf_parent", verbosity=0)
    args = ("scenario", "0005_shelf_note")
    expected = inline(monkeypatch, *args)
    interval = sys.getswitchinterval()
    outputs: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def preview() -> None:
        from django.db import connections

        try:
            barrier.wait(10)
            for _ in range(3):
                outputs.append(rollbackplan(*args, sql=True))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=preview) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert outputs == [expected] * 12
    assert threads() == []
    assert sys.getswitchinterval() == interval


@pytest.mark.backends("mysql")
def test_a_server_refusing_the_second_session(
    database: Database,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The project's user may hold one session (``max_user_connections``):
    the thread is refused, the preview reads every table itself."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", "0006_shelf_parent", verbosity=0)
    user = f"{database.name}_u"
    database.query(f"CREATE USER '{user}'@'%%' WITH MAX_USER_CONNECTIONS 1")
    try:
        database.query(f"GRANT ALL ON `{database.name}`.* TO '{user}'@'%%'")
        database.query("GRANT PROCESS ON *.* TO %s@'%%'", [user])
        args = ("scenario", "0005_shelf_note")
        from django.db import connections

        connections["default"].close()
        connections.settings["default"]["USER"] = user
        del connections["default"]
        expected = inline(monkeypatch, *args)
        assert "DROP FOREIGN KEY" in expected
        started: list[ConstraintPrefetch] = []
        start = ConstraintPrefetch.__init__

        def noted(self: ConstraintPrefetch, *a: Any) -> None:
            start(self, *a)
            started.append(self)
            assert self.finished.wait(30)

        monkeypatch.setattr(ConstraintPrefetch, "__init__", noted)
        capsys.readouterr()
        assert rollbackplan(*args, sql=True) == expected
        # refused: the thread read no table, the preview read them all
        assert len(started) == 1 and started[0]._futures == {}
        assert capsys.readouterr().err == ""
    finally:
        from django.db import connections

        connections["default"].close()
        connections.settings["default"]["USER"] = "root"
        del connections["default"]
        database.query(f"DROP USER '{user}'@'%%'")


@pytest.mark.backends("postgresql", "mysql")
def test_no_second_session_with_autocommit_off(
    database: Database, settings: Any
) -> None:
    """A program that turned autocommit off (its changes not committed yet)."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    plan = build_plan("default", TargetSpec("scenario", "zero"))
    database.connection.set_autocommit(False)
    try:
        with BackwardSQL(plan) as collector:
            assert collector.prefetch is None
    finally:
        database.connection.rollback()
        database.connection.set_autocommit(True)


@pytest.mark.backends("postgresql")
def test_a_connection_pool_is_not_the_threads(
    database: Database, settings: Any, answered: list[int]
) -> None:
    """``OPTIONS["pool"]`` (Django 5.1+, psycopg 3): the thread's session is
    its own, not one of the pool's. Taken from a pool of one, which the
    preview's connection holds, it waited the pool's timeout, the preview
    waited ``WAIT`` for it, and it was left behind.

    Skipped unless Django's PostgreSQL backend runs on psycopg 3 (the project
    tests on psycopg2): ``pip install --target DIR "psycopg[binary,pool]"``
    and ``PYTHONPATH=DIR``."""
    if database.connection.Database.__name__ != "psycopg":
        pytest.skip("connection pools need psycopg 3")
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", "0006_shelf_parent", verbosity=0)
    from django.db import connections

    connections["default"].close()
    options = connections.settings["default"].setdefault("OPTIONS", {})
    options["pool"] = {"min_size": 1, "max_size": 1, "timeout": 5}
    del connections["default"]
    try:
        out = rollbackplan("scenario", "0005_shelf_note", sql=True)
        assert "DROP CONSTRAINT" in out
        assert answered == [1]
        assert threads() == []
    finally:
        connections["default"].close()
        connections["default"].close_pool()
        options.pop("pool")
        del connections["default"]


@pytest.mark.backends("postgresql", "mysql")
def test_options_of_the_alias_are_the_threads_too(
    database: Database,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    answered: list[int],
) -> None:
    """``OPTIONS`` that shape a session (PostgreSQL's isolation level and a
    ``search_path`` given to the server, MySQL's ``init_command`` and isolation
    level): the thread's session has them too, and answers."""
    settings.MIGRATION_MODULES = TOGETHER
    from django.db import connections

    if database.vendor == "postgresql":
        database.query("CREATE SCHEMA tenant")
        extra = {
            "isolation_level": 4,  # SERIALIZABLE in psycopg2 and psycopg 3
            "options": "-c search_path=tenant",
        }
    else:
        extra = {
            "init_command": "SET SESSION sql_mode = 'TRADITIONAL'",
            "isolation_level": "read committed",
        }
    connections["default"].close()
    options = connections.settings["default"].setdefault("OPTIONS", {})
    saved = dict(options)
    options.update(extra)
    del connections["default"]
    try:
        call_command("migrate", "scenario", "0006_shelf_parent", verbosity=0)
        if database.vendor == "postgresql":
            assert database.query("SELECT current_schema()") == [("tenant",)]
        args = ("scenario", "0005_shelf_note")
        expected = inline(monkeypatch, *args)
        assert rollbackplan(*args, sql=True) == expected
        assert answered == [1]
    finally:
        connections["default"].close()
        options.clear()
        options.update(saved)
        del connections["default"]


@pytest.mark.backends("postgresql", "mysql")
def test_a_preview_that_cannot_start_leaves_no_thread_or_interval(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary directory is not there (``TMPDIR`` of a container): the
    preview fails before it starts, and the thread already started with the
    interval lowered must not be left behind."""
    settings.MIGRATION_MODULES = TOGETHER
    call_command("migrate", "scenario", verbosity=0)
    interval = sys.getswitchinterval()
    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent/migration-guard")
    with pytest.raises((OSError, CommandError)):
        rollbackplan("scenario", "zero", sql=True)
    for thread in threads():
        thread.join(10)
    assert sys.getswitchinterval() == interval
    monkeypatch.undo()
    settings.MIGRATION_MODULES = TOGETHER
    rollbackplan("scenario", "zero", sql=True)
    assert sys.getswitchinterval() == interval
