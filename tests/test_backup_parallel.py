"""Parallel PostgreSQL backups (``MIGRATION_GUARD["BACKUP_JOBS"]`` > 1), real tools.

``pg_dump --format=directory --jobs N``, the directory packed into one tar in
the store, decoded in full before any restore, restored with ``pg_restore
--jobs N``; a restore compares schema and rows with the manifest afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.backup import catalog, pg_directory
from migration_guard.backup.base import BackupError
from migration_guard.backup.partials import scratch_directory
from migration_guard.backup.storage import LocalStore, get_store
from migration_guard.exceptions import (
    RecoveryRequired,
    RestoreFailed,
    VerificationRefused,
)
from tests.conftest import Database
from tests.schema import logical_dump
from tests.test_backup import TYPES, insert_samples

pytestmark = pytest.mark.backends("postgresql")


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


@pytest.fixture
def parallel(database: Database, settings: Any) -> Database:
    settings.MIGRATION_MODULES = TYPES
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "BACKUP_JOBS": 2}
    run("guardedmigrate", "scenario", "0002", verbosity=0, no_backup=True)
    insert_samples(database)
    return database


def tool_calls(argvs: list[list[str]], tool: str) -> list[list[str]]:
    """The runs of ``tool`` that read an archive or a database (not --version)."""
    return [
        argv for argv in argvs if Path(argv[0]).name == tool and "--version" not in argv
    ]


def without_ledger(dump: dict[str, Any]) -> dict[str, Any]:
    dump["rows"].pop("migration_guard_migrationrun", None)
    return dump


def test_parallel_round_trip_restores_exact_rows_and_schema(
    parallel: Database, argvs: list[list[str]]
) -> None:
    before = logical_dump(parallel.connection)
    created = json.loads(run("migrationbackups", "create", format="json"))
    manifest = catalog.find(created["id"])
    assert (manifest.format, manifest.filename) == (
        "pg-directory",
        manifest.id + ".dir.tar",
    )
    path = Path(get_store().location(manifest))
    assert path.read_bytes()[:8] == b"toc.dat\0"
    assert manifest.rows["public.scenario_sample"] == 3
    (dump,) = tool_calls(argvs, "pg_dump")
    assert "--format=directory" in dump and "--jobs=2" in dump
    listed = json.loads(run("migrationbackups", "list", format="json"))
    assert [b["id"] for b in listed["backups"]] == [manifest.id]
    # only the tar is left in the store: no scratch directory, no partial
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [manifest.filename, manifest.manifest_name]
    )

    with parallel.connection.cursor() as cursor:
        cursor.execute("DELETE FROM scenario_sample WHERE label = 'unicode'")
        cursor.execute("CREATE TABLE created_since (id int PRIMARY KEY)")
    call_command("migrate", "scenario", "0001", verbosity=0)
    assert logical_dump(parallel.connection) != before

    argvs.clear()
    result = json.loads(
        run(
            "migrationbackups", "restore", manifest.id, interactive=False, format="json"
        )
    )
    assert result["restored"] == manifest.id
    assert without_ledger(logical_dump(parallel.connection)) == without_ledger(before)
    restores = [a for a in tool_calls(argvs, "pg_restore") if "--clean" in a]
    # the safety backup is parallel too; the restore runs in two jobs, and
    # cannot be one transaction
    (restore,) = restores
    assert "--jobs=2" in restore and "--single-transaction" not in restore


def test_custom_backup_still_restores_when_jobs_are_on(
    database: Database, settings: Any
) -> None:
    """Backups taken before BACKUP_JOBS was raised stay restorable."""
    settings.MIGRATION_MODULES = TYPES
    run("guardedmigrate", "scenario", "0002", verbosity=0, no_backup=True)
    insert_samples(database)
    before = logical_dump(database.connection)
    old = catalog.create_backup("default", reason="manual")
    assert old.format == "pg-custom"
    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "BACKUP_JOBS": 2}
    with database.connection.cursor() as cursor:
        cursor.execute("DELETE FROM scenario_sample")
    run("migrationbackups", "restore", old.id, interactive=False)
    assert without_ledger(logical_dump(database.connection)) == without_ledger(before)


def _rehash(manifest: Any, path: Path) -> None:
    """Make the manifest agree with the damaged file: only the format check
    can tell."""
    data = path.read_bytes()
    manifest.size, manifest.sha256 = len(data), hashlib.sha256(data).hexdigest()
    get_store().write_manifest(manifest)


def _damage(path: Path, how: str) -> None:
    """Flip bytes in the middle of the largest table data file of the tar, or
    cut the tar there (the tar's own zero padding at the end is no damage)."""
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.name.endswith(".dat.gz")]
        largest = max(members, key=lambda m: m.size)
    data = bytearray(path.read_bytes())
    middle = largest.offset_data + largest.size // 2
    if how == "truncated":
        del data[middle:]
    for i in range(middle, min(middle + 8, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["altered", "truncated"])
def test_corrupted_directory_archive_is_refused_before_anything_is_touched(
    parallel: Database, how: str
) -> None:
    manifest = catalog.create_backup("default", reason="manual")
    path = Path(get_store().location(manifest))
    _damage(path, how)
    _rehash(manifest, path)
    before = logical_dump(parallel.connection)
    with pytest.raises(VerificationRefused) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert caught.value.returncode == 4
    assert str(caught.value).startswith(f"Backup {manifest.id}: {path}")
    assert logical_dump(parallel.connection) == before
    # refused before the safety backup: nothing was written
    assert [m.id for m in get_store().manifests()] == [manifest.id]
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [manifest.filename, manifest.manifest_name]
    )


def test_retention_deletes_a_parallel_backup(parallel: Database) -> None:
    ids = [catalog.create_backup("default", reason="manual").id for _ in range(3)]
    store = get_store()
    removed = json.loads(run("migrationbackups", "prune", keep=1, format="json"))
    assert removed["removed"] == ids[:2][::-1]
    assert [m.id for m in store.manifests()] == ids[2:]
    directory = Path(store.location(store.manifests()[0])).parent
    assert sorted(p.name for p in directory.iterdir()) == [
        f"{ids[2]}.dir.tar",
        f"{ids[2]}.json",
    ]


def test_unpacking_refuses_members_that_are_not_plain_files(tmp_path: Path) -> None:
    archive = tmp_path / "x.dir.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("toc.dat")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(BackupError) as caught, pg_directory.unpacked(archive):
        pass
    assert str(caught.value) == (
        f"{archive} holds 'toc.dat', which is not a file of a pg_dump directory "
        "archive."
    )
    assert [p.name for p in tmp_path.iterdir()] == ["x.dir.tar"]


def test_directory_archive_is_recognised_by_its_first_bytes(tmp_path: Path) -> None:
    source = tmp_path / "dir"
    source.mkdir()
    (source / "toc.dat").write_bytes(b"PGDMP rest of the table of contents")
    (source / "3000.dat.gz").write_bytes(b"data")
    packed = tmp_path / "x.dir.tar"
    digest = pg_directory.pack(source, packed)
    assert digest == hashlib.sha256(packed.read_bytes()).hexdigest()
    assert pg_directory.is_directory_archive(pg_directory.read_head(packed))
    assert not pg_directory.is_directory_archive(b"PGDMP\x01\x0e")
    assert catalog.file_kind(packed) == "postgresql"
    with pg_directory.unpacked(packed) as directory:
        assert sorted(p.name for p in directory.iterdir()) == [
            "3000.dat.gz",
            "toc.dat",
        ]


def _half_loading_pg_restore(bin_dir: Path) -> None:
    """Fault injection: clients whose pg_restore, asked to restore with jobs,
    creates the tables (pre-data) and dies before their rows."""
    bin_dir.mkdir()
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    assert pg_dump is not None and pg_restore is not None
    (bin_dir / "pg_dump").symlink_to(pg_dump)
    script = bin_dir / "pg_restore"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'  *" --jobs=2 "*) "{pg_restore}" --section=pre-data "$@"; '
        'echo "pg_restore: error: killed" >&2; exit 1;;\n'
        f'esac\nexec "{pg_restore}" "$@"\n'
    )
    script.chmod(0o755)


def test_a_parallel_restore_that_fails_midway_leaves_the_marker(
    parallel: Database, settings: Any, tmp_path: Path
) -> None:
    """pg_restore --jobs is not one transaction: what it loaded stays, and
    the restore marker makes runs refuse the database until a restore ends."""
    manifest = catalog.create_backup("default", reason="manual")
    bin_dir = tmp_path / "bin"
    _half_loading_pg_restore(bin_dir)
    settings.MIGRATION_GUARD = {
        **settings.MIGRATION_GUARD,
        "DUMP_COMMANDS": {"postgresql": str(bin_dir / "pg_dump")},
    }
    with pytest.raises(RestoreFailed) as caught:
        run("migrationbackups", "restore", manifest.id, interactive=False)
    assert (
        "failed, the database holds part of it (--jobs=2 is not one transaction): "
        "pg_restore: error: killed"
    ) in str(caught.value)
    assert parallel.query("SELECT count(*) FROM scenario_sample") == [(0,)]
    with pytest.raises(RecoveryRequired) as refused:
        run("guardedmigrate", "scenario", "0002", interactive=False)
    assert refused.value.returncode == 7
    assert f"migrationbackups restore {manifest.id} --database default" in str(
        refused.value
    )

    settings.MIGRATION_GUARD = {**settings.MIGRATION_GUARD, "DUMP_COMMANDS": {}}
    run("migrationbackups", "restore", manifest.id, interactive=False)
    assert parallel.query("SELECT count(*) FROM scenario_sample") == [(3,)]
    run("guardedmigrate", "scenario", "0002", interactive=False)


def test_scratch_directories_of_killed_runs_are_removed(tmp_path: Path) -> None:
    """A scratch directory is removed by the next run once nobody holds its
    lock (a killed process holds none); one in use is left alone."""
    store = LocalStore(tmp_path)
    stale = tmp_path / ".default-1.dir.tar-k1ll3d.partial.d"
    stale.mkdir()
    (stale / "toc.dat").write_bytes(b"PGDMP")
    with scratch_directory(tmp_path / "default-2.dir.tar") as busy:
        assert busy.name.startswith(".default-2.dir.tar-")
        assert store.remove_stale_partials() == [stale]
        assert busy.is_dir()
    assert list(tmp_path.iterdir()) == []
