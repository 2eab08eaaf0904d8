"""Backups belong to one database; the store is a closed box; restores check
the whole file and its kind before anything is touched (issue 11, items 1-3
and 8), on SQLite, PostgreSQL and MariaDB with the real tools.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error

from migration_guard.backup import catalog
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.checks import check_backup_dir
from migration_guard.exceptions import BackupFailed, VerificationRefused
from migration_guard.models import MigrationRun
from migration_guard.rollback.preview import backups_for
from tests.conftest import Database
from tests.test_backup import run


def _two_databases(
    make_database: Callable[..., Database],
) -> tuple[Database, Database]:
    """Databases A and B, one after the other behind the alias ``default``."""
    first = make_database()
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    second = make_database()
    run("guardedmigrate", "catalog", "0002", verbosity=0, no_backup=True)
    return first, second


def _restore_across(backup_id: str) -> dict[str, Any]:
    """``migrationbackups restore ID --into-other-database --noinput``'s JSON."""
    document: dict[str, Any] = json.loads(
        run(
            "migrationbackups",
            "restore",
            backup_id,
            interactive=False,
            into_other_database=True,
            format="json",
        )
    )
    return document


def _backup_of_the_first(
    make_database: Callable[..., Database],
) -> tuple[Database, Database, str]:
    """:func:`_two_databases`, a backup of the first, the second active."""
    first, second = _two_databases(make_database)
    first.activate()
    (of_first,) = _backups(1)
    second.activate()
    return first, second, of_first


def _backups(n: int) -> list[str]:
    return [catalog.create_backup("default", reason="manual").id for _ in range(n)]


def test_retention_keeps_other_databases_backups(
    make_database: Callable[..., Database], settings: Any
) -> None:
    """Several databases share BACKUP_DIR: KEEP=2 on B leaves A's backups."""
    first, second = _two_databases(make_database)
    first.activate()
    of_first = _backups(3)
    second.activate()
    of_second = _backups(3)
    removed = json.loads(run("migrationbackups", "prune", keep=2, format="json"))
    assert removed == {"dry_run": False, "removed": [of_second[0]]}
    kept = {m.id for m in get_store().manifests()}
    assert kept == set(of_first) | set(of_second[1:])
    first.activate()
    assert [m.id for m in catalog.backups_of("default")] == of_first[::-1]


def test_list_shows_this_database_and_all_marks_the_others(
    make_database: Callable[..., Database],
) -> None:
    first, second, of_first = _backup_of_the_first(make_database)
    (of_second,) = _backups(1)
    listing = json.loads(run("migrationbackups", "list", format="json"))
    assert [b["id"] for b in listing["backups"]] == [of_second]
    assert listing["identity"]["vendor"] == second.vendor
    server_id = listing["identity"].get("server_id", "")
    if second.vendor == "postgresql":
        assert server_id.isdigit()  # pg_control_system().system_identifier
    elif second.vendor == "mysql":  # MariaDB 10.11 has server_uid only
        assert server_id.startswith(("server_uid:", "server_uuid:"))
    everything = json.loads(
        run("migrationbackups", "list", all_databases=True, format="json")
    )
    assert [(b["id"], b["this_database"]) for b in everything["backups"]] == [
        (of_second, True),
        (of_first, False),
    ]
    lines = run("migrationbackups", "list", all_databases=True).splitlines()
    assert lines[0].split()[-1] == "DATABASE"
    assert lines[1].split()[0] == of_second and lines[1].endswith("this")
    assert lines[2].split()[0] == of_first
    assert f"other: {first.vendor} " in lines[2]
    assert lines[2].endswith(
        Path(first.name).name if first.vendor == "sqlite" else f"/{first.name}"
    )


def test_restore_of_another_databases_backup_is_refused(
    make_database: Callable[..., Database],
) -> None:
    first, second, of_first = _backup_of_the_first(make_database)
    before = second.schema()
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", of_first, interactive=False)
    assert caught.value.returncode == 4
    message = str(caught.value)
    assert message.startswith(
        f"Backup {of_first} is a backup of another database ({first.vendor} "
    )
    assert "Pass --into-other-database" in message
    assert second.schema() == before
    assert [m.id for m in get_store().manifests()] == [of_first]  # no safety backup
    # the same refusal from a real manage.py, exit 4
    done = second.manage("migrationbackups", "restore", of_first, "--noinput")
    assert done.returncode == 4, done.stderr
    assert "is a backup of another database" in done.stderr

    out = _restore_across(of_first)
    assert out["restored"] == of_first
    assert "catalog_product" in second.tables()
    applied = {n for a, n in second.migration_rows() if a == "catalog"}
    assert applied == {"0001_initial"}
    restore_run = MigrationRun.objects.using("default").get(pk=out["run_id"])
    assert restore_run.backup_id == of_first
    assert restore_run.backup_note.endswith(
        "a backup of another database (--into-other-database)"
    )
    assert "into_other_database=True" in restore_run.argv


def test_manifest_without_identity_matches_by_alias_and_name(
    make_database: Callable[..., Database],
) -> None:
    """Manifests written before identities: alias, vendor and NAME decide."""
    first, second = _two_databases(make_database)
    first.activate()
    (old,) = _backups(1)
    manifest = catalog.find(old)
    manifest.identity = {}
    get_store().write_manifest(manifest)
    assert [m.id for m in catalog.backups_of("default")] == [old]
    second.activate()
    assert catalog.backups_of("default") == []
    with pytest.raises(VerificationRefused, match="alias default"):
        run("migrationbackups", "restore", old, interactive=False)


def test_rollback_strategy_uses_only_this_databases_backups(
    make_database: Callable[..., Database],
) -> None:
    """A backup of the same state of another database is not a way back."""
    first = make_database()
    run("guardedmigrate", "catalog", "0002", verbosity=0, no_backup=True)
    run("guardedmigrate", "catalog", "0003", verbosity=0)
    (of_first,) = catalog.backups_of("default")
    state = set(of_first.applied_before)
    assert backups_for("default", state) == [of_first]
    make_database()
    run("guardedmigrate", "catalog", "0002", verbosity=0, no_backup=True)
    assert backups_for("default", state) == []
    first.activate()
    assert backups_for("default", state) == [of_first]


# -- the store is a closed box ---------------------------------------------


def _forge(manifest: Manifest, **changes: Any) -> Path:
    """Rewrite ``manifest``'s JSON with ``changes`` (an attacker's edit)."""
    store = get_store()
    path = store.directory / manifest.manifest_name  # type: ignore[attr-defined]
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("where", ["parent", "absolute", "another backup"])
def test_a_manifest_cannot_make_retention_delete_another_file(
    database: Database, tmp_path: Path, where: str
) -> None:
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    older, newer, newest = _backups(3)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    name = {
        "parent": "../victim.txt",
        "absolute": str(victim),
        "another backup": catalog.find(newest).filename,
    }[where]
    target = (
        victim
        if where != "another backup"
        else Path(get_store().location(catalog.find(newest)))
    )
    _forge(catalog.find(older), filename=name)
    removed = json.loads(run("migrationbackups", "prune", keep=1, format="json"))
    assert removed["removed"] == [newer]
    assert target.exists()
    listing = json.loads(run("migrationbackups", "list", format="json"))
    assert [b["id"] for b in listing["backups"]] == [newest]
    (rejected,) = listing["rejected"]
    assert rejected.startswith(f"{older}.json: ")
    assert "not a plain file name" in rejected or "not its own" in rejected


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_a_backup_dir_writable_by_others_is_refused(
    database: Database, backup_dir: Path, mode: int
) -> None:
    backup_dir.mkdir()
    os.chmod(backup_dir, mode)
    with pytest.raises(BackupFailed) as caught:
        run("migrationbackups", "create")
    assert caught.value.returncode == 5
    assert str(caught.value).endswith(
        f"Refusing to use {backup_dir}: the backup directory {backup_dir} is "
        f"writable by other users (mode {mode:04o}): they could replace backups "
        f"or plant manifests. Run 'chmod 700 {backup_dir}', or set "
        "MIGRATION_GUARD['BACKUP_DIR'] to a private directory."
    )
    assert list(backup_dir.iterdir()) == []
    (error,) = check_backup_dir()
    assert isinstance(error, Error) and error.id == "migration_guard.E008"
    assert error.hint == (
        f"Run 'chmod 700 {backup_dir}', or set MIGRATION_GUARD['BACKUP_DIR'] to a "
        "private directory."
    )
    os.chmod(backup_dir, 0o700)
    assert check_backup_dir() == []
    run("migrationbackups", "create")


# -- restores prove themselves ---------------------------------------------

#: a file of another kind for each vendor's manifest
_FOREIGN = {
    "sqlite": b"PGDMP" + b"\x00" * 4000,
    "postgresql": b"-- MariaDB dump 10.19\n" + b"-- Dump completed\n",
    "mysql": b"SQLite format 3\x00" + b"\x00" * 4000,
}


def _replace_file(manifest: Manifest, data: bytes) -> None:
    """Put ``data`` in the backup's place, with a matching checksum."""
    Path(get_store().location(manifest)).write_bytes(data)
    manifest.size, manifest.sha256 = len(data), hashlib.sha256(data).hexdigest()
    get_store().write_manifest(manifest)


def test_a_manifest_lying_about_the_kind_is_refused_before_anything(
    database: Database, vendor: str
) -> None:
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    manifest = catalog.create_backup("default", reason="manual")
    _replace_file(manifest, _FOREIGN[vendor])
    before = database.schema()
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    kind = {"sqlite": "postgresql", "postgresql": "mysql", "mysql": "sqlite"}[vendor]
    assert str(caught.value) == (
        f"Backup {manifest.id}: {get_store().location(manifest)} is a {kind} "
        f"backup, but its manifest says {vendor}. The manifest was altered; "
        "nothing was changed."
    )
    assert database.schema() == before
    assert [m.id for m in get_store().manifests()] == [manifest.id]


def _corrupt_middle(data: bytes, vendor: str) -> bytes:
    if vendor == "sqlite":  # a page of the table's b-tree, not the header
        page = int.from_bytes(data[16:18], "big")
        return data[: 2 * page + 8] + b"\xff" * 64 + data[2 * page + 72 :]
    if vendor == "mysql":  # an INSERT cut in its middle
        marker = data.index(b"INSERT INTO `catalog_")
        end = data.index(b"\n", marker)
        return data[: marker + 30] + data[end:]
    middle = len(data) // 2  # compressed data of the archive
    return (
        data[:middle]
        + bytes(b ^ 0x5A for b in data[middle : middle + 32])
        + (data[middle + 32 :])
    )


def _tagged_backup(database: Database, target: str, tags: int) -> Manifest:
    """catalog at ``target``, ``tags`` rows in catalog_tag, then a backup."""
    run("guardedmigrate", "catalog", target, verbosity=0, no_backup=True)
    with database.connection.cursor() as cursor:
        for i in range(tags):
            cursor.execute("INSERT INTO catalog_tag (name) VALUES (%s)", [f"tag {i}"])
    return catalog.create_backup("default", reason="manual")


def test_altered_content_with_a_matching_checksum_is_refused_before_anything(
    database: Database, vendor: str
) -> None:
    manifest = _tagged_backup(database, "0001", 200)
    path = Path(get_store().location(manifest))
    _replace_file(manifest, _corrupt_middle(path.read_bytes(), vendor))
    before = database.schema()
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert str(caught.value).startswith(f"Backup {manifest.id}: ")
    assert database.schema() == before
    assert database.query("SELECT count(*) FROM catalog_tag") == [(200,)]
    assert [m.id for m in get_store().manifests()] == [manifest.id]


# -- restores never rewrite the ledger ------------------------------------------


def _ledger(db: Database) -> list[tuple[int, str, str, str]]:
    return [
        (run.pk, str(run.key), run.command, run.outcome)
        for run in MigrationRun.objects.using(db.alias).order_by("pk")
    ]


def test_a_restore_merges_the_ledger_and_overwrites_no_run(
    make_database: Callable[..., Database],
) -> None:
    """The restored ledger holds other runs under the ids of this one's."""
    first = make_database()
    for target in ("0001", "0002", "0003"):
        run("guardedmigrate", "catalog", target, verbosity=0, no_backup=True)
    (of_first,) = _backups(1)
    restored = _ledger(first)
    assert [pk for pk, *_ in restored] == [1, 2, 3]
    second = make_database()
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    (own,) = _ledger(second)
    out = _restore_across(of_first)
    after = _ledger(second)
    assert after[:3] == restored  # the restored runs, untouched
    keys = {key: (pk, command, outcome) for pk, key, command, outcome in after}
    assert len(after) == 5 and len(keys) == 5
    assert keys[own[1]][1:] == (own[2], own[3])  # this database's run, kept
    restore_run = MigrationRun.objects.using("default").get(pk=out["run_id"])
    assert out["run_id"] > 3
    assert (restore_run.command, restore_run.outcome) == (
        "migrationbackups restore",
        "success",
    )
    assert keys[str(restore_run.key)][0] == out["run_id"]
    # a second restore of the same backup adds its own run and nothing else
    _restore_across(of_first)
    again = _ledger(second)
    assert again[:5] == after and len(again) == 6


# -- a restore is compared with the backup's record ------------------------------


def _table_key(vendor: str, table: str) -> str:
    return f"public.{table}" if vendor == "postgresql" else table


def test_the_manifest_records_rows_from_the_file_and_the_schema(
    database: Database, vendor: str
) -> None:
    manifest = _tagged_backup(database, "0002", 30)
    assert manifest.rows[_table_key(vendor, "catalog_tag")] == 30
    assert manifest.rows[_table_key(vendor, "catalog_category")] == 1
    assert manifest.rows[_table_key(vendor, "catalog_product")] == 0
    assert set(manifest.schema) == database.tables()
    # the same, read again from the file
    assert (
        catalog._backend_of(manifest).read_rows(Path(get_store().location(manifest)))
        == manifest.rows
    )


def test_a_manifest_whose_rows_differ_from_the_file_is_refused(
    database: Database, vendor: str
) -> None:
    run("guardedmigrate", "catalog", "0002", verbosity=0, no_backup=True)
    manifest = catalog.create_backup("default", reason="manual")
    manifest.rows[_table_key(vendor, "catalog_category")] = 7
    get_store().write_manifest(manifest)
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert str(caught.value) == (
        f"Backup {manifest.id}: the file holds other rows than its manifest "
        f"records (tables {_table_key(vendor, 'catalog_category')}); do not "
        "restore it."
    )
    assert [m.id for m in get_store().manifests()] == [manifest.id]


def test_a_restore_that_differs_from_the_record_fails(
    database: Database, vendor: str
) -> None:
    run("guardedmigrate", "catalog", "0002", verbosity=0, no_backup=True)
    manifest = catalog.create_backup("default", reason="manual")
    manifest.schema["catalog_tag"] = "0" * 16
    get_store().write_manifest(manifest)
    done = database.manage("migrationbackups", "restore", manifest.id, "--noinput")
    assert done.returncode == 7, done.stderr
    assert (
        f"The database restored from backup {manifest.id} differs from the "
        "backup: table catalog_tag has other columns or constraints."
    ) in done.stderr
    runs = MigrationRun.objects.using("default").filter(
        command="migrationbackups restore"
    )
    assert [r.outcome for r in runs] == ["restore_failed"]


@pytest.mark.backends("mysql")
def test_mariadb_check_names_come_back(database: Database) -> None:
    """A JSONField's column renamed (wagtail's revision.content): its CHECK keeps
    the old name; mariadb-dump prints it inline without a name."""
    database.query(
        "CREATE TABLE sm_revision (id INT PRIMARY KEY, "
        "content_json LONGTEXT CHECK (json_valid(content_json)))"
    )
    database.query("ALTER TABLE sm_revision RENAME COLUMN content_json TO content")
    database.query("INSERT INTO sm_revision VALUES (1, '{\"a\": 1}')")

    def checks() -> list[tuple[Any, ...]]:
        return database.query(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM "
            "information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = "
            "DATABASE() AND TABLE_NAME = 'sm_revision'"
        )

    def json_columns() -> list[str]:
        connection = database.connection
        with connection.cursor() as cursor:
            description = connection.introspection.get_table_description(
                cursor, "sm_revision"
            )
        return [info.name for info in description if info.has_json_constraint]

    assert checks() == [("content_json", "json_valid(`content`)")]
    assert json_columns() == []
    manifest = catalog.create_backup("default", reason="manual")
    assert manifest.checks == {"sm_revision": {"content_json": "json_valid(`content`)"}}
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert checks() == [("content_json", "json_valid(`content`)")]
    assert json_columns() == []  # still a TextField to Django
    assert database.query("SELECT content FROM sm_revision") == [('{"a": 1}',)]


def test_a_run_stops_before_applying_when_the_backup_dir_is_open(
    database: Database, backup_dir: Path
) -> None:
    backup_dir.mkdir()
    os.chmod(backup_dir, 0o777)
    # the system check stops it first, as every configuration error (exit 1)
    done = database.manage("guardedmigrate", "catalog", "0001", "--noinput")
    assert done.returncode == 1, done.stderr
    assert "(migration_guard.E008) MIGRATION_GUARD['BACKUP_DIR']: " in done.stderr
    # without the checks, the store refuses itself (exit 5)
    args = ("guardedmigrate", "catalog", "0001", "--noinput", "--skip-checks")
    done = database.manage(*args)
    assert done.returncode == 5, done.stderr
    assert (
        "The backup of database 'default' failed, so nothing was applied: "
        f"Refusing to use {backup_dir}: the backup directory {backup_dir} is "
        "writable by other users (mode 0777)"
    ) in done.stderr
    assert ("catalog", "0001_initial") not in database.migration_rows()
    assert list(backup_dir.iterdir()) == []
