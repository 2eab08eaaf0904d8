"""``guardedmigrate --rehearse`` measures locks and rewrites on every backend.

``tests/scenarios/lockwatch``'s 0002 changes a column type (a rewrite on all
three backends) and then works for a second under a lock that blocks writes
to the table (PostgreSQL: the ALTER's ACCESS EXCLUSIVE; MariaDB: ``LOCK
TABLES ... WRITE``; SQLite: the migration's write transaction); 0003 adds a
nullable column (no rewrite).

- PostgreSQL: ``pg_locks`` sampled from a second connection, relfilenode;
- MariaDB: ``METADATA_LOCK_INFO`` sampled (the plugin installed for the
  test), or the DDL statements in PROCESSLIST without it; InnoDB table ids;
- SQLite: the database's write lock for each migration's time; root pages.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.gates.lockwatch import watcher_for
from migration_guard.gates.lockwatch.base import LockWatch, MigrationLocks, rewritten
from migration_guard.gates.lockwatch.mysql import ddl_table
from migration_guard.gates.lockwatch.postgresql import BLOCKING, MODES, strongest
from tests.conftest import Database
from tests.mdl_plugin import with_plugin, without_plugin  # noqa: F401 (fixtures)

LOCKWATCH = {"scenario": "tests.scenarios.lockwatch"}
#: per backend: the strongest lock 0002 holds on its table, the table named
HELD = {
    "postgresql": ({"AccessExclusiveLock"}, "scenario_item"),
    # LOCK TABLES ... WRITE; the ALTER's rename takes MDL_EXCLUSIVE briefly
    "mysql": ({"MDL_SHARED_NO_READ_WRITE", "MDL_EXCLUSIVE"}, "scenario_item"),
    "sqlite": ({"write lock"}, "the whole database"),
}
HEADING = {
    "postgresql": "Locks (pg_locks sampled from a second connection):",
    "mysql": "Locks (METADATA_LOCK_INFO sampled from a second connection):",
    "sqlite": "Locks (SQLite locks the whole database: each migration's time):",
}


def rehearse(**options: Any) -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "guardedmigrate",
        "scenario",
        rehearse=True,
        format="json",
        stdout=out,
        **options,
    )
    return json.loads(out.getvalue())


@pytest.fixture
def initial(with_plugin: Database, settings: Any) -> Database:  # noqa: F811
    """The lockwatch scenario with its 0001 applied: 0002 and 0003 pending."""
    settings.MIGRATION_MODULES = LOCKWATCH
    call_command("guardedmigrate", "scenario", "0001", verbosity=0, no_backup=True)
    return with_plugin


def test_rehearsal_reports_the_strongest_lock_and_rewrites(initial: Database) -> None:
    modes, table = HELD[initial.vendor]
    document = rehearse()
    assert document["outcome"] == "success"
    slow, note = document["locks"]
    assert (slow["migration"], slow["rewritten"]) == (
        "scenario.0002_slow",
        ["scenario_item"],
    )
    assert slow["strongest"] in modes
    held = next(lock for lock in slow["tables"] if lock["table"] == table)
    assert (held["mode"] in modes, held["blocking"]) == (True, True)
    assert slow["samples"] >= 1
    assert (note["migration"], note["rewritten"]) == ("scenario.0003_note", [])
    if initial.vendor == "sqlite":
        assert document["locks_note"] == (
            "SQLite locks the whole database: each migration counts as holding "
            "its write lock from its start to its commit"
        )
        assert [lock["table"] for lock in note["tables"]] == [table]
    else:
        assert document["locks_note"] is None
        assert slow["samples"] > 1
    # the real database is as it was
    assert [n for a, n in initial.migration_rows() if a == "scenario"] == [
        "0001_initial"
    ]


def test_max_lock_ms_fails_the_rehearsal_above_the_budget(initial: Database) -> None:
    modes, table = HELD[initial.vendor]
    with pytest.raises(CheckFailed) as info:
        rehearse(max_lock_ms=100)
    assert info.value.returncode == 2
    message = str(info.value)
    prefix = "Rehearsal of database 'default' failed: scenario.0002_slow held "
    assert message.startswith(prefix)
    mode = message[len(prefix) :].split(f" on {table} for ")[0]
    assert mode in modes
    assert message.endswith(
        " ms, over --max-lock-ms 100. Database 'default' was not changed."
    )
    document = rehearse(max_lock_ms=600000)
    assert (document["outcome"], document["over_budget"]) == ("success", [])


def test_max_lock_ms_needs_a_rehearsal(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = LOCKWATCH
    with pytest.raises(UsageError, match=r"^--max-lock-ms goes with --rehearse\.$"):
        call_command("guardedmigrate", "scenario", max_lock_ms=100)


def test_rehearsal_text_names_locks_per_migration(initial: Database) -> None:
    modes, table = HELD[initial.vendor]
    out = io.StringIO()
    call_command("guardedmigrate", "scenario", rehearse=True, stdout=out, no_color=True)
    lines = out.getvalue().splitlines()
    start = lines.index(HEADING[initial.vendor])
    slow, note = lines[start + 1], lines[start + 2]
    assert slow.startswith("  scenario.0002_slow: ")
    assert slow.split(": ", 1)[1].split(" on ")[0] in modes
    assert f" on {table} (" in slow
    assert slow.endswith(" ms); rewrote scenario_item")
    assert note.startswith("  scenario.0003_note: ")
    assert "rewrote" not in note


@pytest.mark.backends("mysql")
def test_mariadb_without_the_plugin_samples_ddl_statements(
    without_plugin: Database,  # noqa: F811
    settings: Any,
) -> None:
    settings.MIGRATION_MODULES = LOCKWATCH
    call_command("guardedmigrate", "scenario", "0001", verbosity=0, no_backup=True)
    document = rehearse()
    assert document["outcome"] == "success"
    assert document["locks_note"] == (
        "METADATA_LOCK_INFO plugin not installed: each DDL statement counts as "
        "blocking writes to its table while it runs"
    )
    slow, note = document["locks"]
    # the rewrite is always seen; a DDL statement shorter than a sample may not be
    assert slow["rewritten"] == ["scenario_item"]
    assert {lock["mode"] for lock in slow["tables"] + note["tables"]} <= {"DDL"}
    assert note["rewritten"] == []


def test_watcher_for_each_backend(database: Database) -> None:
    watch = watcher_for(database.connection)
    assert isinstance(watch, LockWatch)
    assert (
        type(watch).__name__
        == {
            "postgresql": "PostgresLockWatch",
            "mysql": "MysqlLockWatch",
            "sqlite": "SqliteLockWatch",
        }[database.vendor]
    )


def test_lock_modes_order() -> None:
    assert strongest({"RowExclusiveLock", "AccessShareLock"}) == "RowExclusiveLock"
    assert strongest(set(MODES)) == "AccessExclusiveLock"
    assert "ShareUpdateExclusiveLock" not in BLOCKING
    assert "ShareLock" in BLOCKING


def test_rewritten_tables_are_those_whose_file_changed() -> None:
    before = {"a": 1, "b": 2, "gone": 3}
    assert rewritten(before, {"a": 1, "b": 5, "new": 9}) == ["b"]


@pytest.mark.parametrize(
    "statement, table",
    [
        ("ALTER TABLE `scenario_item` MODIFY `qty` bigint NOT NULL", "scenario_item"),
        ("alter online table db.t add index i (a)", "t"),
        ("CREATE UNIQUE INDEX `idx` ON `scenario_item` (`qty`)", "scenario_item"),
        ("DROP INDEX idx ON t", "t"),
        ("OPTIMIZE TABLE t", "t"),
        ("SELECT SLEEP(1)", None),
        ("INSERT INTO t VALUES (1)", None),
        (None, None),
    ],
)
def test_ddl_table(statement: str | None, table: str | None) -> None:
    assert ddl_table(statement) == table


class _Modes(LockWatch):
    """A watch whose modes are ranked by name length, "long" blocking."""

    def rank(self, mode: str) -> int:
        return len(mode)

    def blocking(self, mode: str) -> bool:
        return mode == "long"


def test_samples_open_raise_and_close_locks() -> None:
    watch = _Modes(connection=None)
    watch.note([("t", "a")], 1.0)  # no migration running: not recorded
    with watch._lock:
        watch.current = MigrationLocks("app.0001")
        watch.migrations.append(watch.current)
    watch.note([("t", "a"), ("t", "long"), ("u", "a")], 2.0)
    watch.note([("t", "a")], 2.5)  # t weaker again: the strong lock goes on
    watch.note([], 3.0)  # all released
    watch.note([("u", "ab")], 4.0)  # u stronger: a new lock from now
    (locks,) = watch.migrations
    assert {k: (v.mode, v.first_seen, v.until) for k, v in locks.tables.items()} == {
        "t": ("long", 2.0, 3.0),
        "u": ("ab", 4.0, None),
    }
    assert (locks.strongest, locks.samples) == ("long", 4)
    assert [(label, lock.table) for label, lock in watch.over_budget(999)] == [
        ("app.0001", "t")
    ]
    assert watch.over_budget(1000) == []
    assert locks.describe() == "app.0001: long on t (1000 ms)"
