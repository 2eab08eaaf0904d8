"""Bounded lock waits with retries, against a second connection holding a lock.

A second connection (the "holder") keeps a transaction open on the table a
migration alters. The tests count attempts and never assert timing: the
holder commits from the injected pause between two attempts, or when the
run says it gives up.
"""

from __future__ import annotations

import importlib
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.models.signals import pre_migrate

from migration_guard.exceptions import MigrationFailed, UsageError
from migration_guard.models import MigrationRun
from migration_guard.run import locktimeouts
from tests.conftest import Database
from tests.mdl_plugin import with_plugin, without_plugin  # noqa: F401 (fixtures)
from tests.scenarios.lockwaits import SEEN

READER = importlib.import_module("tests.scenarios.lockwaits.0005_read_timeouts")
SCENARIO = {"scenario": "tests.scenarios.lockwaits"}
HOLDER_NAME = "lockwait-holder"


class Holder:
    """A second connection with an open transaction on ``scenario_widget``."""

    def __init__(self, db: Database) -> None:
        self.vendor = db.vendor
        self.connection = connections.create_connection(db.alias)
        self.holding = False
        self.session = 0

    def hold(self) -> None:
        if self.holding:  # pre_migrate is sent once per app
            return
        with self.connection.cursor() as cursor:
            if self.vendor == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")  # the write lock of the file
            else:
                if self.vendor == "postgresql":
                    cursor.execute(f"SET application_name = '{HOLDER_NAME}'")
                    cursor.execute("SELECT pg_backend_pid()")
                else:
                    cursor.execute("SELECT CONNECTION_ID()")
                self.session = cursor.fetchone()[0]
                cursor.execute("BEGIN")
                cursor.execute("SELECT COUNT(*) FROM scenario_widget")
                cursor.fetchall()
        self.holding = True

    def release(self) -> None:
        if self.holding:
            with self.connection.cursor() as cursor:
                cursor.execute("COMMIT")
            self.holding = False

    def close(self) -> None:
        self.release()
        self.connection.close()


@pytest.fixture
def holder(database: Database, settings: Any) -> Iterator[Holder]:
    settings.MIGRATION_MODULES = SCENARIO
    SEEN.clear()
    held = Holder(database)
    try:
        yield held
    finally:
        held.close()


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between attempts, taken instantly; the jitter is fixed."""
    taken: list[float] = []
    monkeypatch.setattr(locktimeouts, "sleeper", taken.append)
    monkeypatch.setattr(locktimeouts, "jitter_source", lambda: 0.5)
    return taken


class Output(io.StringIO):
    """stdout that calls ``on_give_up`` when the run says it gives up."""

    def __init__(self, on_give_up: Callable[[], None]) -> None:
        super().__init__()
        self.on_give_up = on_give_up

    def write(self, text: str) -> int:
        if "giving up" in text:
            self.on_give_up()
        return super().write(text)


def hold_when_migrating(holder: Holder) -> Callable[..., None]:
    """Take the holder's lock once the run starts migrating.

    Before (the ledger row, the backup) SQLite's whole-file lock would block
    the run itself.
    """

    def receiver(**kwargs: Any) -> None:
        if not held:
            held.append(True)
            holder.hold()

    held: list[bool] = []

    pre_migrate.connect(receiver, weak=False, dispatch_uid="lockwait-holder")
    return receiver


@pytest.fixture(autouse=True)
def _disconnect() -> Iterator[None]:
    yield
    pre_migrate.disconnect(dispatch_uid="lockwait-holder")


def migration_guard(
    *args: str, stdout: io.StringIO | None = None, **options: Any
) -> str:
    out = stdout if stdout is not None else io.StringIO()
    options.setdefault("lock_wait_timeout", 1)
    options.setdefault("lock_wait_retries", 2)
    options.setdefault("lock_wait_backoff", 0.2)
    call_command("guardedmigrate", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def fail_while_held(
    db: Database, holder: Holder, start: str, target: str, **options: Any
) -> tuple[MigrationFailed, str]:
    """Migrate to ``start``, then to ``target`` with the holder holding its
    lock until the run gives up; the schema must be as it was before."""
    migration_guard("scenario", start, verbosity=0)
    hold_when_migrating(holder)
    before = db.schema()
    out = Output(holder.release)
    with pytest.raises(MigrationFailed) as caught:
        migration_guard("scenario", target, stdout=out, **options)
    assert db.schema() == before
    return caught.value, out.getvalue()


def last_run(db: Database) -> MigrationRun:
    return MigrationRun.objects.using(db.alias).order_by("-id")[0]


def columns(db: Database, table: str) -> set[str]:
    with db.connection.cursor() as cursor:
        return {
            c.name
            for c in db.connection.introspection.get_table_description(cursor, table)
        }


def test_retries_until_the_holder_commits(
    database: Database, holder: Holder, pauses: list[float]
) -> None:
    migration_guard("scenario", "0001", verbosity=0)

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        holder.release()  # the long transaction ends during the first pause

    locktimeouts.sleeper = pause  # the fixture puts the original back
    hold_when_migrating(holder)
    out = migration_guard("scenario", "0004")  # 0003 and 0004 run on the rebuilt state

    assert (
        "Applying scenario.0002_widget_size... lock timeout (1s) on attempt 1 of 3; "
        "rolled back, trying again in 0.15s."
    ) in out
    assert "Applying scenario.0002_widget_size... OK" in out
    assert pauses == [pytest.approx(0.15)]  # 0.2 s backoff, 75 % with jitter 0.5
    run = last_run(database)
    assert run.outcome == "success"
    entry, *later = run.executed
    assert [e["name"] for e in later] == ["0003_gadget_then_widget", "0004_not_atomic"]
    assert all("attempts" not in e for e in later)
    assert entry["name"] == "0002_widget_size"
    assert entry["attempts"] == 2
    (wait,) = entry["lock_waits"]
    assert wait["attempt"] == 1
    if database.vendor == "postgresql":
        assert f"application_name '{HOLDER_NAME}'" in wait["blockers"][0]
        assert f"pid {holder.session} " in wait["blockers"][0]
    elif database.vendor == "mysql":
        assert any(f"thread {holder.session} " in b for b in wait["blockers"])
    assert {"size", "weight", "height"} <= columns(database, "scenario_widget")
    assert "colour" in columns(database, "scenario_gadget")
    assert database.migration_rows()[-1] == ("scenario", "0004_not_atomic")


def test_backward_run_retries_too(
    database: Database, holder: Holder, pauses: list[float]
) -> None:
    migration_guard("scenario", "0002", verbosity=0)

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        holder.release()

    locktimeouts.sleeper = pause
    hold_when_migrating(holder)
    out = migration_guard("scenario", "0001", interactive=False)
    assert (
        "Unapplying scenario.0002_widget_size... lock timeout (1s) on attempt 1" in out
    )
    assert "Unapplying scenario.0002_widget_size... OK" in out
    (entry,) = last_run(database).executed
    assert (entry["action"], entry["attempts"]) == ("unapplied", 2)
    assert "size" not in columns(database, "scenario_widget")
    assert database.migration_rows()[-1] == ("scenario", "0001_initial")


def test_exhausted_retries_exit_6_and_name_the_blocker(
    without_plugin: Database,  # noqa: F811
    holder: Holder,
    pauses: list[float],
) -> None:
    database = without_plugin
    error, out = fail_while_held(database, holder, "0001", "0002")
    message = str(error)
    assert error.returncode == 6
    assert message.startswith(
        "Migration scenario.0002_widget_size failed on database 'default': "
        "LockWaitTimeout: scenario.0002_widget_size waited 1s for a lock on each "
        "of 3 attempts; nothing of it was applied."
    )
    assert "giving up." in out
    assert pauses == [pytest.approx(0.15), pytest.approx(0.3)]
    if database.vendor != "sqlite":  # SQLite's AddField may rebuild the table
        assert "The statement that waited: ALTER TABLE " in message
    if database.vendor == "postgresql":
        assert "Blocking sessions (pg_blocking_pids):" in message
        assert f"pid {holder.session} (application_name '{HOLDER_NAME}'" in message
        assert "transaction open for " in message
        assert "SELECT COUNT(*) FROM scenario_widget" in message
    elif database.vendor == "mysql":
        assert "METADATA_LOCK_INFO plugin not installed: sessions with an open " in (
            message
        )
        assert f"thread {holder.session} (" in message
    else:
        assert "SQLite locks the whole file and names no holder" in message
    # nothing applied, nothing restored: the database is as before the run
    run = last_run(database)
    assert run.outcome == "failed"
    assert run.executed == []
    assert "each of 3 attempts" in run.error
    assert ("scenario", "0002_widget_size") not in database.migration_rows()


@pytest.mark.backends("mysql")
def test_mariadb_names_the_metadata_lock_holders_with_the_plugin(
    with_plugin: Database,  # noqa: F811
    holder: Holder,
    pauses: list[float],
) -> None:
    """With METADATA_LOCK_INFO, the holder is named with its lock exactly."""
    error, _ = fail_while_held(with_plugin, holder, "0001", "0002")
    assert error.returncode == 6
    message = str(error)
    heading = "\nBlocking sessions (metadata-lock holders, METADATA_LOCK_INFO):\n"
    assert heading in message
    blockers = message.split(heading, 1)[1].split("\n")[0].strip()
    assert re.fullmatch(
        rf"thread {holder.session} \(root@[\w.:]+, Sleep for \d+s\) holds "
        rf"MDL_SHARED_READ on {with_plugin.name}\.scenario_widget: idle",
        blockers,
    ), blockers
    run = last_run(with_plugin)
    assert run.outcome == "failed"
    assert "METADATA_LOCK_INFO" in run.error
    assert ("scenario", "0002_widget_size") not in with_plugin.migration_rows()


def test_mysql_does_not_retry_after_a_committed_change(
    database: Database, holder: Holder, pauses: list[float]
) -> None:
    """0003 alters gadget, then waits on widget: PostgreSQL and SQLite roll
    both back and retry; MariaDB committed the first ALTER, so it restores."""
    error, out = fail_while_held(database, holder, "0002", "0003", lock_wait_retries=1)
    message = str(error)
    run = last_run(database)
    if database.vendor == "mysql":
        assert pauses == []
        assert "lock timeout (1s) on attempt 1 of 2; giving up (it cannot be " in out
        assert (
            "scenario.0003_gadget_then_widget waited 1s for a lock after an "
            "earlier statement of it had changed the schema (mysql cannot roll "
            "DDL back), so it was not retried."
        ) in message
        assert run.outcome == "restored"
        assert f"restored from backup {run.backup_id}" in message
    else:
        assert len(pauses) == 1
        assert "each of 2 attempts; nothing of it was applied." in message
        assert run.outcome == "failed"


def test_non_atomic_migration_is_not_retried(
    database: Database, holder: Holder, pauses: list[float]
) -> None:
    error, _ = fail_while_held(database, holder, "0003", "0004")
    message = str(error)
    assert pauses == []
    assert (
        "scenario.0004_not_atomic waited 1s for a lock; it is not atomic, so it "
        "was not retried (part of it may have run)."
    ) in message
    assert last_run(database).outcome == "restored"  # the existing failure path


def test_timeouts_hold_during_the_migration_and_are_put_back(
    database: Database, holder: Holder
) -> None:
    call_command("migrate", "scenario", verbosity=0)  # plain migrate: untouched
    untouched = SEEN.pop("during")
    call_command("migrate", "scenario", "zero", verbosity=0)
    database.connection.close()

    migration_guard("scenario", verbosity=0, lock_wait_timeout=2, statement_timeout=30)
    during = SEEN["during"]
    with database.connection.cursor() as cursor:
        cursor.execute(READER.QUERIES[database.vendor])
        after = tuple(cursor.fetchone())
    if database.vendor == "postgresql":
        assert untouched == ("0", "0")
        assert during == ("2s", "30s")
        assert after == ("0", "0")
    elif database.vendor == "mysql":
        assert untouched == (86400, 50, 0)
        assert during == (2, 2, 30)
        assert after == (86400, 50, 0)
    else:
        assert untouched == (5000,)
        assert during == (2000,)
        assert after == (5000,)


def test_zero_timeout_switches_it_off(database: Database, holder: Holder) -> None:
    migration_guard("scenario", verbosity=0, lock_wait_timeout=0)
    if database.vendor == "postgresql":
        assert SEEN["during"] == ("0", "0")
    elif database.vendor == "mysql":
        assert SEEN["during"] == (86400, 50, 0)
    else:
        assert SEEN["during"] == (5000,)


@pytest.mark.backends("sqlite")
def test_negative_option_is_a_usage_error(database: Database, holder: Holder) -> None:
    with pytest.raises(UsageError, match="--lock-wait-retries must be 0 or more"):
        migration_guard("scenario", lock_wait_retries=-1)
    assert database.migration_rows() == []


@pytest.mark.backends("postgresql")
def test_from_the_command_line(database: Database) -> None:
    """A real manage.py run with the options: a holder makes it exit 6."""
    holder = Holder(database)
    result = database.manage("guardedmigrate", "orders", "0002", "--no-backup")
    assert result.returncode == 0, result.stderr
    with holder.connection.cursor() as cursor:
        cursor.execute(f"SET application_name = '{HOLDER_NAME}'")
        cursor.execute("BEGIN")
        cursor.execute("LOCK TABLE orders_order IN ACCESS SHARE MODE")
    try:
        result = database.manage(
            "guardedmigrate",
            "orders",
            "--no-backup",
            "--lock-wait-timeout",
            "0.5",
            "--lock-wait-retries",
            "1",
            "--lock-wait-backoff",
            "0",
        )
    finally:
        holder.close()
    assert result.returncode == 6, result.stderr
    assert "on each of 2 attempts; nothing of it was applied." in result.stderr
    assert f"application_name '{HOLDER_NAME}'" in result.stderr


def test_backoff_is_exponential_with_jitter() -> None:
    draws = iter([0.0, 1.0, 0.5, 1.0])
    policy = locktimeouts.LockWaits(backoff=1.0, rand=lambda: next(draws))
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.5, 2.0, 3.0]
    assert policy.delay(10) == locktimeouts.MAX_BACKOFF  # capped


def test_settings_are_the_defaults(settings: Any) -> None:
    policy = locktimeouts.from_settings()
    assert (policy.timeout, policy.retries, policy.backoff) == (5, 3, 1.0)
    assert policy.statement_timeout is None
    settings.MIGRATION_GUARD = {"LOCK_WAIT_TIMEOUT": 0, "LOCK_WAIT_RETRIES": 1}
    policy = locktimeouts.from_settings(retries=4)
    assert not policy.enabled
    assert policy.retries == 4


STATEMENT_TIMEOUT = {"scenario": "tests.scenarios.statementtimeout"}


def test_a_statement_over_the_statement_timeout_is_cancelled(
    database: Database, settings: Any
) -> None:
    """0002 adds a column, then runs a statement of 10 s; the timeout is 1 s.

    PostgreSQL cancels it and rolls the migration back: exit 6, ledger
    ``failed``, nothing restored. MariaDB cancels it, but the column was
    committed: exit 6, the backup restored, ledger ``restored``. SQLite has
    no statement timeout: the run says so, and the statement runs to its end.
    """
    settings.MIGRATION_MODULES = STATEMENT_TIMEOUT
    migration_guard("scenario", "0001", verbosity=0)
    if database.vendor == "sqlite":
        out = migration_guard("scenario", statement_timeout=1)
        assert (
            "Statement timeout (1s): SQLite has none; the statements of database "
            "'default' run without a limit.\n"
        ) in out
        assert last_run(database).outcome == "success"
        assert database.migration_rows()[-1] == ("scenario", "0002_slow_statement")
        return
    with pytest.raises(MigrationFailed) as caught:
        migration_guard("scenario", statement_timeout=1)
    assert caught.value.returncode == 6
    cancelled = {
        "postgresql": "canceling statement due to statement timeout",
        "mysql": "(1969, 'Query execution was interrupted (max_statement_time "
        "exceeded)')",
    }[database.vendor]
    statement = {"postgresql": "SELECT pg_sleep(10)", "mysql": "SELECT SLEEP(10)"}
    message = str(caught.value)
    assert message.startswith(
        "Migration scenario.0002_slow_statement failed on database 'default': "
        "StatementTimeout: scenario.0002_slow_statement ran a statement longer "
        "than the statement timeout (1s); the database cancelled it, and a "
        "statement timeout is not retried. The statement: "
        f"{statement[database.vendor]} ({cancelled}). "
    )
    run = last_run(database)
    assert "StatementTimeout" in run.error
    assert run.executed == []
    if database.vendor == "postgresql":
        assert "The database rolled the migration back." in message
        assert run.outcome == "failed"
    else:
        assert "The database was restored from backup " in message
        assert run.outcome == "restored"
    assert "note" not in columns(database, "scenario_item")
    assert database.migration_rows()[-1] == ("scenario", "0001_initial")
