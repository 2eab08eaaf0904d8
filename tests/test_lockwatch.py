"""``guardedmigrate --rehearse`` measures locks: pg_locks sampled, rewrites seen.

PostgreSQL: the rehearsal samples pg_locks for the backend that runs the
migrations (from a second connection) and reads each table's relfilenode
before and after each migration. ``tests/scenarios/lockwatch``'s 0002 changes
a column type (a rewrite, ACCESS EXCLUSIVE) and then works for a second under
that lock; 0003 adds a nullable column (no rewrite).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.gates.lockwatch import BLOCKING, MODES, strongest
from tests.conftest import Database

LOCKWATCH = {"scenario": "tests.scenarios.lockwatch"}


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
def initial(database: Database, settings: Any) -> Database:
    """The lockwatch scenario with its 0001 applied: 0002 and 0003 pending."""
    settings.MIGRATION_MODULES = LOCKWATCH
    call_command("guardedmigrate", "scenario", "0001", verbosity=0, no_backup=True)
    return database


@pytest.mark.backends("postgresql")
def test_rehearsal_reports_the_strongest_lock_and_rewrites(initial: Database) -> None:
    document = rehearse()
    assert document["outcome"] == "success"
    assert document["locks_note"] is None
    slow, note = document["locks"]
    assert (slow["migration"], slow["strongest"], slow["rewritten"]) == (
        "scenario.0002_slow",
        "AccessExclusiveLock",
        ["scenario_item"],
    )
    item = next(lock for lock in slow["tables"] if lock["table"] == "scenario_item")
    assert (item["mode"], item["blocking"]) == ("AccessExclusiveLock", True)
    assert slow["samples"] > 1
    assert (note["migration"], note["rewritten"]) == ("scenario.0003_note", [])
    # the real database is as it was
    assert [n for a, n in initial.migration_rows() if a == "scenario"] == [
        "0001_initial"
    ]


@pytest.mark.backends("postgresql")
def test_max_lock_ms_fails_the_rehearsal_above_the_budget(initial: Database) -> None:
    with pytest.raises(CheckFailed) as info:
        rehearse(max_lock_ms=100)
    assert info.value.returncode == 2
    message = str(info.value)
    assert message.startswith(
        "Rehearsal of database 'default' failed: scenario.0002_slow held "
        "AccessExclusiveLock on scenario_item for "
    )
    assert message.endswith(
        " ms, over --max-lock-ms 100. Database 'default' was not changed."
    )
    document = rehearse(max_lock_ms=600000)
    assert (document["outcome"], document["over_budget"]) == ("success", [])


def test_max_lock_ms_needs_a_rehearsal_on_postgresql(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = LOCKWATCH
    with pytest.raises(UsageError, match=r"^--max-lock-ms goes with --rehearse\.$"):
        call_command("guardedmigrate", "scenario", max_lock_ms=100)
    if database.vendor == "postgresql":
        return
    with pytest.raises(UsageError) as info:
        rehearse(max_lock_ms=100)
    assert str(info.value) == (
        "--max-lock-ms needs PostgreSQL: locks are measured with pg_locks "
        f"(database 'default' is {database.vendor})."
    )


def test_lock_modes_order() -> None:
    assert strongest({"RowExclusiveLock", "AccessShareLock"}) == "RowExclusiveLock"
    assert strongest(set(MODES)) == "AccessExclusiveLock"
    assert "ShareUpdateExclusiveLock" not in BLOCKING
    assert "ShareLock" in BLOCKING


@pytest.mark.backends("postgresql")
def test_rehearsal_text_names_locks_per_migration(initial: Database) -> None:
    out = io.StringIO()
    call_command("guardedmigrate", "scenario", rehearse=True, stdout=out, no_color=True)
    lines = out.getvalue().splitlines()
    start = lines.index("Locks (pg_locks sampled from a second connection):")
    slow, note = lines[start + 1], lines[start + 2]
    assert slow.startswith("  scenario.0002_slow: AccessExclusiveLock on ")
    assert "scenario_item (" in slow
    assert slow.endswith(" ms); rewrote scenario_item")
    assert note.startswith("  scenario.0003_note: ")
    assert "rewrote" not in note
