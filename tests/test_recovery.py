"""Crash recovery, signals' plumbing, secrets and children (issue 11, items 4-7).

The end-to-end faults (real ``manage.py`` processes killed at points of their
work) are in ``tests/faults``; these build the situations a crash leaves.
"""

from __future__ import annotations

import fcntl
import io
import os
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from migration_guard.backup import process
from migration_guard.backup.storage import LocalStore, get_store
from migration_guard.exceptions import RecoveryRequired, UsageError
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run.recovery import process_token
from tests.conftest import ROOT, Database

SLOW = {"scenario": "tests.faults.slow_scenario"}


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def crashed_run(alias: str = "default", **fields: Any) -> MigrationRun:
    """A ledger row as a run killed with ``kill -9`` leaves it."""
    values: dict[str, Any] = {
        "alias": alias,
        "vendor": connections[alias].vendor,
        "command": "guardedmigrate",
        "host": socket.gethostname(),
        "direction": "forwards",
        "started_at": timezone.now(),
        "runtime": {"pid": dead_pid(), "token": "gone"},
    }
    values.update(fields)
    return MigrationRun.objects.using(alias).create(**values)


@pytest.fixture
def slow(settings: Any) -> None:
    settings.MIGRATION_MODULES = SLOW


def test_a_run_records_its_process(database: Database, slow: None) -> None:
    run("guardedmigrate", "scenario", "0001", interactive=False)
    row = MigrationRun.objects.using("default").get()
    assert row.runtime == {"pid": os.getpid(), "token": process_token(os.getpid())}
    assert row.runtime["token"].count(":") == 1


def test_a_dead_running_run_is_marked_interrupted_and_the_next_run_proceeds(
    database: Database, slow: None
) -> None:
    run("guardedmigrate", "scenario", "0001", interactive=False)
    killed = crashed_run(plan=[{"app": "scenario", "name": "0002_slow"}])
    alive = crashed_run(
        runtime={"pid": os.getpid(), "token": process_token(os.getpid())}
    )
    out = run("guardedmigrate", interactive=False)
    assert f"Run {killed.pk} (guardedmigrate, started " in out
    killed.refresh_from_db(using="default")
    assert killed.outcome == Outcome.INTERRUPTED
    # it died before its backup was recorded: nothing of it was executed
    assert killed.runtime["needs_restore"] is False
    assert "ended without recording the end of the run" in killed.error
    alive.refresh_from_db(using="default")
    assert alive.outcome == Outcome.RUNNING  # this very process: alive
    assert ("scenario", "0002_slow") in database.migration_rows()


def half_migrated(database: Database) -> MigrationRun:
    """0001 applied and backed up; 0002's first column added, then a kill -9."""
    run("guardedmigrate", "scenario", "0001", interactive=False)
    run("migrationbackups", "create")
    manifest = get_store().manifests()[0]
    database.query(
        "ALTER TABLE scenario_widget ADD COLUMN color varchar(20) DEFAULT 'red' "
        "NOT NULL"
    )
    return crashed_run(
        plan=[{"app": "scenario", "name": "0002_slow", "backwards": False}],
        backup_id=manifest.id,
        backup_note="taken",
    )


@pytest.mark.backends("mysql")
def test_a_half_migrated_database_stops_the_next_run_until_restored(
    database: Database, slow: None
) -> None:
    killed = half_migrated(database)
    with pytest.raises(RecoveryRequired) as caught:
        run("guardedmigrate", interactive=False)
    assert caught.value.returncode == 7
    assert str(caught.value) == (
        f"Run {killed.pk} on database 'default' was interrupted while "
        "scenario.0002_slow was being applied, and mysql could not roll it back: "
        "the database may be half-migrated. Nothing was done. Its pre-run backup "
        f"is {killed.backup_id}. Bring the database back to its state before run "
        f"{killed.pk} with: manage.py rollback --run {killed.pk} --strategy "
        "restore --database default (or set MIGRATION_GUARD['AUTO_RESTORE'] = "
        "'always' to let guardedmigrate do it). If you repaired the schema yourself "
        f"instead: manage.py rollback --run {killed.pk} --mark-resolved "
        "--database default"
    )
    assert "color" in [c.name for c in _columns()]  # nothing was done
    with pytest.raises(Exception) as refused:
        run("rollback", run=killed.pk, strategy="unapply", interactive=False)
    assert getattr(refused.value, "returncode", None) == 8
    run("rollback", run=killed.pk, strategy="restore", interactive=False)
    assert [c.name for c in _columns()] == ["id", "name"]
    killed.refresh_from_db(using="default")
    assert killed.runtime["resolved"].startswith(f"restored from {killed.backup_id}")
    run("guardedmigrate", interactive=False)
    assert ("scenario", "0002_slow") in database.migration_rows()


@pytest.mark.backends("mysql")
def test_auto_restore_always_restores_and_goes_on(
    database: Database, slow: None, settings: Any
) -> None:
    killed = half_migrated(database)
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "always"}
    out = run("guardedmigrate", interactive=False)
    assert f"Run {killed.pk} was interrupted half-way; restoring its pre-run" in out
    assert [c.name for c in _columns()] == ["id", "name", "color", "weight"]
    killed.refresh_from_db(using="default")
    assert killed.runtime["resolved"].startswith("restored from ")


@pytest.mark.backends("mysql")
def test_mark_resolved_records_who_and_lets_runs_go_on(
    database: Database, slow: None
) -> None:
    killed = half_migrated(database)
    with pytest.raises(UsageError, match="only those can be marked resolved"):
        run("rollback", run=killed.pk - 1, mark_resolved=True)
    database.query("ALTER TABLE scenario_widget DROP COLUMN color")  # by hand
    out = run("rollback", run=killed.pk, mark_resolved=True)
    assert out.startswith(f"Run {killed.pk}: marked resolved without a restore by ")
    killed.refresh_from_db(using="default")
    assert killed.outcome == Outcome.INTERRUPTED
    assert killed.runtime["resolved"].startswith("marked resolved without a restore")
    run("guardedmigrate", interactive=False)
    assert ("scenario", "0002_slow") in database.migration_rows()


def test_an_unfinished_restore_stops_runs(database: Database, slow: None) -> None:
    from migration_guard.run import markers

    run("guardedmigrate", "scenario", "0001", interactive=False)
    markers.set_marker("default", "default-20260101T000000000000")
    with pytest.raises(RecoveryRequired) as caught:
        run("guardedmigrate", interactive=False)
    assert caught.value.returncode == 7
    assert (
        "did not finish: the database holds only part of that backup. Nothing was "
        "done. Restore it again: manage.py migrationbackups restore "
        "default-20260101T000000000000 --database default"
    ) in str(caught.value)
    markers.clear_marker("default")
    run("guardedmigrate", interactive=False)


def test_an_unfinished_restore_stops_runs_when_the_ledger_is_gone_too(
    database: Database, slow: None
) -> None:
    """A killed load may have dropped every table, the ledger's included.

    Found by the fault suite (FAULT_SEED=3, 4, 7 on MariaDB): the next run
    looked for the marker only when the ledger table was there, so it went
    on over a half-loaded database.
    """
    from migration_guard.run import markers

    run("guardedmigrate", "scenario", "0001", interactive=False)
    markers.set_marker("default", "default-20260101T000000000000")
    database.query("DROP TABLE migration_guard_migrationrun")
    with pytest.raises(RecoveryRequired) as caught:
        run("guardedmigrate", interactive=False)
    assert caught.value.returncode == 7
    assert "migrationbackups restore default-20260101T000000000000" in str(caught.value)
    assert "migration_guard_migrationrun" not in database.tables()


def _columns() -> list[Any]:
    connection = connections["default"]
    with connection.cursor() as cursor:
        return list(
            connection.introspection.get_table_description(cursor, "scenario_widget")
        )


# -- secrets, children, partial files (no database) ----------------------------


def test_secrets_live_in_memory_and_reach_children() -> None:
    before = set(os.listdir(tempfile.gettempdir()))
    with process.secret_file("[client]\npassword=s3cret\n", suffix=".cnf") as path:
        assert str(path).startswith("/dev/fd/")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert set(os.listdir(tempfile.gettempdir())) == before
        assert "memfd:migration_guard.cnf" in os.readlink(path)
        # read by a child, as the clients do, twice (no offset shared)
        script = f"print(open('{path}').read() + open('{path}').read(), end='')"
        out = process.output([sys.executable, "-c", script])
        assert out == "[client]\npassword=s3cret\n" * 2
    assert not os.path.exists(path)


def test_children_die_with_guardedmigrate_even_after_kill_9(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from migration_guard.backup import process
        child = process.popen(["sleep", "60"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(1000):
            if pidfile.exists() and pidfile.read_text():
                break
            assert parent.poll() is None
            time.sleep(0.01)
        pid = int(pidfile.read_text())
        assert os.getpgid(pid) == pid  # its own process group
    finally:
        parent.kill()
        parent.wait()
    for _ in range(500):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"sleep {pid} outlived its parent")


def test_stale_partials_go_and_partials_being_written_stay(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    stale = tmp_path / ".default-1.sqlite3.partial"
    stale.write_bytes(b"half")
    busy = tmp_path / ".default-2.sqlite3.partial"
    busy.write_bytes(b"writing")
    with open(busy, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        assert store.remove_stale_partials() == [stale]
    assert not stale.exists()
    assert busy.exists()


@pytest.mark.backends("mysql")
def test_a_plan_the_recovery_changed_is_not_called_untouched(
    database: Database, slow: None, settings: Any
) -> None:
    """``guardedmigrate scenario 0001`` shows the plan of the half-migrated
    database (unapply 0002); under the lock, the recovery restores the
    pre-run backup (0001), which changes the plan: the run stops, and says
    that the database was restored, not that nothing was done."""
    from django.db.migrations.recorder import MigrationRecorder

    half_migrated(database).delete()
    # killed after recording 0002, before its run could say it was done
    MigrationRecorder(connections["default"]).record_applied("scenario", "0002_slow")
    killed = crashed_run(
        outcome=Outcome.INTERRUPTED,
        plan=[{"app": "scenario", "name": "0002_slow", "backwards": False}],
        backup_id=get_store().manifests()[0].id,
        backup_note="taken",
        runtime={"pid": dead_pid(), "token": "gone", "needs_restore": True},
    )
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "always"}
    out = io.StringIO()
    with pytest.raises(UsageError) as caught:
        call_command(
            "guardedmigrate", "scenario", "0001", interactive=False, stdout=out
        )
    assert str(caught.value) == (
        "The plan changed while the preview was shown: the database was restored "
        "from the pre-run backup of an interrupted run first (above); nothing else "
        "was done. Run the command again to see the plan from there."
    )
    assert f"Run {killed.pk} was interrupted half-way; restoring" in out.getvalue()
    assert ("scenario", "0002_slow") not in database.migration_rows()
    assert [c.name for c in _columns()] == ["id", "name"]
