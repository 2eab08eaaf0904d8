"""A database whose restore did not finish is refused by every command that
writes to it or to its backups, except the restore that repairs it.

The marker (:mod:`migration_guard.run.recovery`) is left by a killed MariaDB
load or PostgreSQL restore; here it is set by hand, as the kill leaves it.
A half-restored database must not be backed up as if it were good (the new
backup would be the newest, and retention keeps the newest), its backups must
not be pruned (the one the marker names is the way back), and no history may
be recorded or unapplied over it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.backup.storage import get_store
from migration_guard.exceptions import RecoveryRequired
from migration_guard.run import markers
from tests.conftest import Database

SLOW = {"scenario": "tests.faults.slow_scenario"}


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def half_restored(database: Database, settings: Any) -> Iterator[str]:
    """Two backups of the database, then a restore of the older one killed."""
    settings.MIGRATION_MODULES = SLOW
    run("guardedmigrate", "scenario", "0001", interactive=False)
    older = get_store().manifests()[0].id
    run("migrationbackups", "create")
    markers.set_marker("default", older)
    yield older
    markers.clear_marker("default")


def refused(command: str, *args: str, **options: Any) -> str:
    with pytest.raises(RecoveryRequired) as caught:
        run(command, *args, **options)
    assert caught.value.returncode == 7
    return str(caught.value)


def redo_hint(backup: str) -> str:
    return (
        "did not finish: the database holds only part of that backup. Nothing was "
        f"done. Restore it again: manage.py migrationbackups restore {backup} "
        "--database default"
    )


def test_a_manual_backup_of_a_half_restored_database_is_refused(
    half_restored: str,
) -> None:
    before = {m.id for m in get_store().manifests()}
    assert redo_hint(half_restored) in refused("migrationbackups", "create")
    assert {m.id for m in get_store().manifests()} == before


def test_pruning_while_a_restore_is_unfinished_is_refused(half_restored: str) -> None:
    before = {m.id for m in get_store().manifests()}
    assert redo_hint(half_restored) in refused("migrationbackups", "prune", keep=1)
    assert {m.id for m in get_store().manifests()} == before


def test_reconcile_fake_is_refused(half_restored: str) -> None:
    message = refused(
        "reconcile", "scenario", fake=True, interactive=False, reason="test"
    )
    assert redo_hint(half_restored) in message


def test_rollback_is_refused(half_restored: str) -> None:
    assert redo_hint(half_restored) in refused("rollback", "--last", interactive=False)


def test_redoing_the_restore_clears_the_marker(
    half_restored: str, database: Database
) -> None:
    run("migrationbackups", "restore", half_restored, interactive=False)
    assert markers.unfinished_restore("default") is None
    run("guardedmigrate", interactive=False)  # runs go on


def test_the_marker_is_made_in_one_statement(database: Database) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    markers.clear_marker("default")
    with CaptureQueriesContext(connection) as made:
        markers.set_marker("default", "default-20260101T000000000000")
    try:
        creating = [q["sql"] for q in made.captured_queries if "CREATE" in q["sql"]]
        assert len(creating) == 1
        assert not [q for q in made.captured_queries if "INSERT" in q["sql"]]
        marker = markers.unfinished_restore("default")
        assert marker is not None
        assert marker["backup_id"] == "default-20260101T000000000000"
        assert marker["started_at"].endswith(" UTC")
    finally:
        markers.clear_marker("default")
