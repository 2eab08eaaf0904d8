"""Backups on SQLite, PostgreSQL and MariaDB with the real tools.

Round trips, verification of damaged files, refused restores, automatic
restore after a failed migration, retention and the migrationbackups command.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connections

from migration_guard.backup import catalog
from migration_guard.backup.storage import get_store
from migration_guard.checks import check_backup_tools
from migration_guard.exceptions import (
    BackupFailed,
    MigrationFailed,
    RestoreFailed,
    UsageError,
    VerificationRefused,
)
from migration_guard.models import MigrationRun
from tests import backends
from tests.conftest import Database
from tests.schema import logical_dump

TYPES = {"scenario": "tests.scenarios.types"}


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def insert_samples(db: Database) -> None:
    """Rows of many types, written through Django so each backend encodes them."""
    from django.db.migrations.loader import MigrationLoader

    state = MigrationLoader(db.connection).project_state(
        ("scenario", "0002_sample_extra")
    )
    sample = state.apps.get_model("scenario", "Sample")
    rows = [
        {
            "text": "naïve café — 日本語 🎉",
            "label": "unicode",
            "blob": b"\x00\x01\xfe\xff binary\x00",
            "data": {"k": [1, 2.5, None, "é"], "nested": {"a": True}},
            "amount": decimal.Decimal("12345678.1234"),
            "day": datetime.date(2024, 2, 29),
            "moment": datetime.datetime(
                2024, 2, 29, 23, 59, 58, 123456, tzinfo=datetime.UTC
            ),
            "flag": True,
            "ratio": 0.1,
        },
        {"label": None},
        {
            "text": "",
            "label": "empty",
            "blob": b"",
            "data": [],
            "amount": decimal.Decimal("-0.0001"),
            "flag": False,
            "ratio": -1e10,
        },
    ]
    for row in rows:
        sample.objects.using(db.alias).create(**row)


@pytest.fixture
def samples(database: Database, settings: Any) -> Database:
    settings.MIGRATION_MODULES = TYPES
    run("guardedmigrate", "scenario", "0002", verbosity=0, no_backup=True)
    insert_samples(database)
    return database


def test_round_trip_restores_schema_and_rows(samples: Database) -> None:
    before = logical_dump(samples.connection)
    assert len(before["rows"]["scenario_sample"]) == 3
    out = json.loads(run("migrationbackups", "create", format="json"))
    backup_id = out["id"]
    assert out["size"] > 0 and len(out["sha256"]) == 64
    assert (
        Path(get_store().location(catalog.find(backup_id))).stat().st_mode & 0o777
        == 0o600
    )

    # change data and schema
    with samples.connection.cursor() as cursor:
        cursor.execute("DELETE FROM scenario_sample WHERE label = 'unicode'")
        cursor.execute("UPDATE scenario_sample SET label = 'changed'")
    run(
        "guardedmigrate", "scenario", verbosity=0, no_backup=True, interactive=False
    ) if False else None
    call_command("migrate", "scenario", "0001", verbosity=0)  # drops column extra
    assert logical_dump(samples.connection) != before

    result = json.loads(
        run("migrationbackups", "restore", backup_id, interactive=False, format="json")
    )
    assert result["restored"] == backup_id
    after = logical_dump(samples.connection)
    ledger_before = before["rows"].pop("migration_guard_migrationrun", None)
    ledger_after = after["rows"].pop("migration_guard_migrationrun", None)
    assert after == before
    # the ledger keeps its history, plus the restore itself
    assert ledger_before is None or len(ledger_after) == len(ledger_before) + 1
    safety = catalog.find(result["safety_backup"])
    assert safety.reason == "safety"
    row = MigrationRun.objects.using("default").get(pk=result["run_id"])
    assert (row.command, row.outcome, row.executed, row.error, row.direction) == (
        "migrationbackups restore",
        "success",
        [],
        "",
        "none",
    )
    assert (row.backup_id, row.backup_note) == (
        backup_id,
        f"restored; safety backup {safety.id}",
    )
    assert row.finished_at is not None


@pytest.mark.backends("sqlite")
def test_sqlite_wal_commit_is_in_the_backup(database: Database) -> None:
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    database.connection.close()
    writer = sqlite3.connect(database.name)
    assert writer.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO catalog_category (name, slug) VALUES ('wal', 'wal')")
    writer.commit()
    try:
        assert Path(database.name + "-wal").stat().st_size > 0  # not checkpointed
        manifest = catalog.create_backup("default", reason="manual")
    finally:
        writer.close()
    copy = sqlite3.connect(get_store().location(manifest))
    try:
        assert copy.execute("SELECT slug FROM catalog_category").fetchall() == [
            ("wal",)
        ]
    finally:
        copy.close()


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "one-byte-short":
        path.write_bytes(data[:-1])
    else:
        middle = len(data) // 2
        path.write_bytes(
            data[:middle]
            + bytes(b ^ 0xFF for b in data[middle : middle + 8])
            + data[middle + 8 :]
        )


@pytest.mark.parametrize("how", ["truncated", "one-byte-short", "altered"])
def test_damaged_backup_fails_verify_and_restore(samples: Database, how: str) -> None:
    manifest = catalog.create_backup("default", reason="manual")
    _damage(Path(get_store().location(manifest)), how)
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "verify", manifest.id)
    assert caught.value.returncode == 4
    assert f"Backup {manifest.id} does not match its manifest" in str(caught.value)
    before = logical_dump(samples.connection)
    with pytest.raises(VerificationRefused):
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert logical_dump(samples.connection) == before
    # no safety backup either: nothing was done
    assert [m.id for m in get_store().manifests()] == [manifest.id]


def test_damaged_format_with_matching_checksum_is_refused(samples: Database) -> None:
    """A file cut short *before* its checksum was computed: the format check."""
    manifest = catalog.create_backup("default", reason="manual")
    path = Path(get_store().location(manifest))
    data = path.read_bytes()[:-200]
    path.write_bytes(data)
    import hashlib

    manifest.size, manifest.sha256 = len(data), hashlib.sha256(data).hexdigest()
    get_store().write_manifest(manifest)
    with pytest.raises(VerificationRefused) as caught:
        catalog.verify_backup(manifest)
    assert caught.value.returncode == 4
    assert f"Backup {manifest.id}: " in str(caught.value)


def test_restore_of_another_engine_is_refused(
    make_database: Callable[..., Database], vendor: str
) -> None:
    db = make_database()
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    manifest = catalog.create_backup("default", reason="manual")
    other = "postgresql" if vendor != "postgresql" else "mysql"
    if backends.unavailable(other):
        pytest.skip(backends.unavailable(other) or "")
    target = Database(other, backends.unique_name(), alias="other")
    backends.server(other).create(target.name)
    try:
        target.activate()
        with pytest.raises(VerificationRefused) as caught:
            run(
                "migrationbackups",
                "restore",
                manifest.id,
                database="other",
                interactive=False,
            )
        assert caught.value.returncode == 4
        assert (
            f"Backup {manifest.id} is a {vendor} backup ({manifest.format}); "
            f"database 'other' is {other}"
        ) in str(caught.value)
        assert target.tables() == set()
    finally:
        connections["other"].close()
        del connections["other"]
        connections.settings.pop("other")
        backends.server(other).drop(target.name)
    assert db.tables()


def test_unwritable_backup_dir_stops_the_run(
    database: Database, settings: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.MIGRATION_GUARD = {"BACKUP_DIR": blocker / "backups"}
    with pytest.raises(BackupFailed) as caught:
        run("guardedmigrate", verbosity=0)
    assert caught.value.returncode == 5
    assert "Cannot create the backup directory" in str(caught.value)
    assert "nothing was applied" in str(caught.value)
    assert database.migration_rows() == []
    (failed,) = MigrationRun.objects.using("default")
    assert failed.outcome == "failed"
    assert failed.backup_note.startswith("failed: Cannot create the backup directory")


def test_disk_full_during_backup_stops_the_run(database: Database) -> None:
    """Fault injection: the disk fills up while the backup is written."""
    full = OSError(28, "No space left on device")
    with (
        mock.patch.object(catalog, "fsync_file", side_effect=full),
        pytest.raises(BackupFailed) as caught,
    ):
        run("guardedmigrate", verbosity=0)
    assert "No space left on device" in str(caught.value)
    assert database.migration_rows() == []
    assert get_store().manifests() == []
    assert list(get_store().directory.iterdir()) == []  # type: ignore[attr-defined]


@pytest.mark.backends("postgresql", "mysql")
def test_missing_dump_tool_stops_the_run_and_is_checked(
    database: Database, settings: Any, vendor: str
) -> None:
    settings.MIGRATION_GUARD = {
        **settings.MIGRATION_GUARD,
        "DUMP_COMMANDS": {vendor: "/nonexistent/dump"},
    }
    messages = [m for m in check_backup_tools() if "'default'" in m.msg]
    assert [m.id for m in messages][:1] == ["migration_guard.W002"]
    assert "/nonexistent/dump is not installed" in messages[0].msg
    with pytest.raises(BackupFailed) as caught:
        run("guardedmigrate", verbosity=0)
    assert caught.value.returncode == 5
    assert "/nonexistent/dump" in str(caught.value)
    assert database.migration_rows() == []


def test_no_backup_and_noop_are_recorded(database: Database, settings: Any) -> None:
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    run("guardedmigrate", "catalog", verbosity=0)
    run("guardedmigrate", "catalog", verbosity=0)  # nothing to do: no backup
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "BACKUP": "never"}
    run("guardedmigrate", verbosity=0)
    runs = list(MigrationRun.objects.using("default").order_by("id"))
    assert [(r.backup_id != "", r.backup_note.split(":")[0]) for r in runs] == [
        (False, "skipped"),
        (True, "taken"),
        (False, ""),
        (False, "skipped"),
    ]
    assert runs[0].backup_note == "skipped: --no-backup"
    assert runs[3].backup_note == "skipped: MIGRATION_GUARD['BACKUP'] is 'never'"
    assert [m.id for m in get_store().manifests()] == [runs[1].backup_id]
    manifest = get_store().manifests()[0]
    assert manifest.run_id == runs[1].pk
    assert manifest.applied_before == sorted(runs[1].applied_before)
    assert [s["name"] for s in manifest.plan] == [
        "0002_default_category",
        "0003_delete_legacyprice",
    ]


def test_failed_migration_is_restored_where_ddl_cannot_roll_back(
    samples: Database,
) -> None:
    before = logical_dump(samples.connection)
    rows_before = samples.migration_rows()
    expected = MigrationFailed
    with pytest.raises(expected) as caught:
        run("guardedmigrate", "scenario", verbosity=0)
    assert caught.value.returncode == 6
    run_row = MigrationRun.objects.using("default").order_by("id").last()
    assert run_row is not None
    after = logical_dump(samples.connection)
    after["rows"].pop("migration_guard_migrationrun")
    before["rows"].pop("migration_guard_migrationrun")
    assert after == before  # schema and rows as before the run
    assert samples.migration_rows() == rows_before
    if samples.vendor == "mysql":
        assert run_row.outcome == "restored"
        assert f"restored from backup {run_row.backup_id}" in str(caught.value)
    else:
        assert run_row.outcome == "failed"
        assert "The database rolled the migration back." in str(caught.value)
    assert "RuntimeError: boom: failed after adding two columns" in run_row.error


def test_auto_restore_always_undoes_the_whole_run(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = TYPES
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "always"}
    with pytest.raises(MigrationFailed) as caught:
        run("guardedmigrate", "scenario", verbosity=0)
    assert "to its state before the run" in str(caught.value)
    assert database.migration_rows() == []
    assert "scenario_sample" not in database.tables()
    (run_row,) = MigrationRun.objects.using("default")
    assert run_row.outcome == "restored"
    assert [e["name"] for e in run_row.executed] == [
        "0001_initial",
        "0002_sample_extra",
    ]


def test_failed_restore_names_the_backup(samples: Database, settings: Any) -> None:
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "AUTO_RESTORE": "always"}
    run(
        "guardedmigrate",
        "scenario",
        "0001",
        verbosity=0,
        no_backup=True,
        interactive=False,
    )
    broken = catalog.BackupError("pg_restore exited with status 1: injected")
    with (
        mock.patch.object(catalog, "restore_backup", side_effect=broken),
        pytest.raises(RestoreFailed) as caught,
    ):
        run("guardedmigrate", "scenario", verbosity=0)
    run_row = MigrationRun.objects.using("default").order_by("id").last()
    assert run_row is not None and run_row.outcome == "restore_failed"
    assert caught.value.returncode == 7
    assert (
        f"manage.py migrationbackups restore {run_row.backup_id} --database default"
        in str(caught.value)
    )


def test_retention_keeps_the_newest_and_pinned(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "KEEP": 2}
    ids = []
    for target in ("0001", "0002", "0003"):
        run("guardedmigrate", "catalog", target, verbosity=0)
        ids.append(
            MigrationRun.objects.using("default").order_by("id").last().backup_id
        )
    assert [m.id for m in get_store().manifests()] == ids[::-1][:2]
    run("migrationbackups", "pin", ids[2])
    run("guardedmigrate", "catalog", "0002", verbosity=0, interactive=False)
    run("guardedmigrate", "catalog", "0003", verbosity=0)
    kept = [m.id for m in get_store().manifests()]
    assert len(kept) == 3 and ids[2] in kept  # 2 newest + the pinned one
    removed = json.loads(
        run("migrationbackups", "prune", keep=1, dry_run=True, format="json")
    )
    assert ids[2] not in removed["removed"] and len(removed["removed"]) == 1
    assert len(get_store().manifests()) == 3


def test_restore_asks_and_defaults_to_no(samples: Database) -> None:
    manifest = catalog.create_backup("default", reason="manual")
    with samples.connection.cursor() as cursor:
        cursor.execute("DELETE FROM scenario_sample")
    with (
        mock.patch("builtins.input", return_value=""),
        pytest.raises(UsageError, match="Restore cancelled"),
    ):
        run("migrationbackups", "restore", manifest.id)
    assert samples.query("SELECT count(*) FROM scenario_sample") == [(0,)]
    with mock.patch("builtins.input", return_value="yes"):
        out = run("migrationbackups", "restore", manifest.id)
    assert "This replaces everything in database 'default'" in out
    assert samples.query("SELECT count(*) FROM scenario_sample") == [(3,)]


def test_migrationbackups_list_show_verify(database: Database) -> None:
    assert run("migrationbackups", "list") == (
        f"No backups of database 'default' in {get_store().description}.\n"
    )
    run("guardedmigrate", "catalog", "0001", verbosity=0)
    (manifest,) = get_store().manifests()
    listing = run("migrationbackups", "list").splitlines()
    assert listing[0].split() == ["ID", "CREATED", "SIZE", "REASON", "RUN", "PINNED"]
    assert listing[1].split()[0] == manifest.id
    assert listing[1].split()[-2:] == ["pre-migrate", "1"]
    shown = json.loads(run("migrationbackups", "show", manifest.id, format="json"))
    assert shown == manifest.as_json()
    assert run("migrationbackups", "verify", manifest.id).startswith(
        f"Backup {manifest.id} verified: "
    )
    with pytest.raises(UsageError, match="No backup 'nope'"):
        run("migrationbackups", "show", "nope")
    with pytest.raises(UsageError, match="needs a backup ID"):
        run("migrationbackups", "verify")


def test_backup_files_are_private(database: Database) -> None:
    run("guardedmigrate", "catalog", "0001", verbosity=0)
    directory = get_store().directory  # type: ignore[attr-defined]
    assert directory.stat().st_mode & 0o777 == 0o700
    modes = {path.name: path.stat().st_mode & 0o777 for path in directory.iterdir()}
    assert modes and set(modes.values()) == {0o600}


def test_command_line_backup_then_restore(database: Database) -> None:
    result = database.manage("guardedmigrate", "catalog", "0002")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Backing up database:"
    listed = database.manage("migrationbackups", "list", "--format", "json")
    (backup,) = json.loads(listed.stdout)["backups"]
    restored = database.manage("migrationbackups", "restore", backup["id"], "--noinput")
    assert restored.returncode == 0, restored.stderr
    assert database.migration_rows() == []
    cancelled = database.manage("migrationbackups", "restore", backup["id"])
    assert cancelled.returncode == 1  # no input: the default answer is No
    assert "Restore cancelled; nothing was changed." in cancelled.stderr


def test_backups_in_a_configured_django_storage(
    samples: Database, settings: Any, tmp_path: Path
) -> None:
    """STORAGES["migration_guard"] replaces BACKUP_DIR (django-storages, S3...)."""
    location = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "migration_guard": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    store = get_store()
    assert store.description == "STORAGES['migration_guard'] (FileSystemStorage)"
    before = logical_dump(samples.connection)
    created = json.loads(run("migrationbackups", "create", format="json"))
    assert sorted(p.name for p in location.iterdir()) == sorted(
        [created["filename"], created["id"] + ".json"]
    )
    assert not (tmp_path / "backups").exists()  # BACKUP_DIR is not used
    assert run("migrationbackups", "verify", created["id"]).startswith("Backup ")
    with samples.connection.cursor() as cursor:
        cursor.execute("DELETE FROM scenario_sample")
    run("migrationbackups", "restore", created["id"], interactive=False)
    after = logical_dump(samples.connection)
    after["rows"].pop("migration_guard_migrationrun", None)
    before["rows"].pop("migration_guard_migrationrun", None)
    assert after == before


@pytest.mark.backends("postgresql")
def test_pg_dump_cut_short_is_caught_while_it_streams(
    samples: Database, settings: Any, tmp_path: Path
) -> None:
    """Fault injection: a pg_dump whose output stops halfway, exit status 0."""
    import shutil

    tools = tmp_path / "bin"
    tools.mkdir()
    real = shutil.which("pg_dump")
    fake = tools / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) exec {real} --version;; esac\n'
        f'{real} "$@" | head -c 2000\n'
    )
    fake.chmod(0o755)
    (tools / "pg_restore").symlink_to(shutil.which("pg_restore") or "pg_restore")
    settings.MIGRATION_GUARD = {
        **settings.MIGRATION_GUARD,
        "DUMP_COMMANDS": {"postgresql": str(fake)},
    }
    rows = samples.migration_rows()
    with pytest.raises(BackupFailed) as caught:
        run("guardedmigrate", "scenario", verbosity=0)
    assert "is not a complete pg_dump custom-format archive: pg_restore: error: " in (
        str(caught.value)
    )
    assert "end of file" in str(caught.value)
    assert samples.migration_rows() == rows  # nothing applied
    assert get_store().manifests() == []
    assert [p.name for p in get_store().directory.iterdir()] == []  # type: ignore[attr-defined]
