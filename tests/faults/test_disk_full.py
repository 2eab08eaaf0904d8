"""A disk that fills up: the backup directory on a real, small tmpfs.

No mock: the dump tools and migration_guard get ``ENOSPC`` from the kernel.
A deploy whose backup does not fit stops before any migration, leaves nothing
on the disk, and runs once there is room; a restore whose safety backup does
not fit touches nothing.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import IN_CI, Database
from tests.faults.conftest import ROWS, Project, last_run

Mount = Callable[[str], Path]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Mount]:
    """``small_disk("64k")``: a private tmpfs of that size, unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        path = tmp_path / f"disk-{len(mounted)}"
        path.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            reason = f"cannot mount a small tmpfs: {done.stderr.strip()}"
            if IN_CI:
                pytest.fail(f"CI=true: {reason}")
            pytest.skip(reason)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def filled(disk: Path) -> Iterator[None]:
    """Every free byte of ``disk`` taken by one file, removed afterwards."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    try:
        yield
    finally:
        filler.unlink()


def full(stderr: str) -> bool:
    return any(
        text in stderr
        for text in ("No space left on device", "disk is full", "errno 28")
    )


def used(disk: Path) -> list[str]:
    return sorted(p.name for p in disk.iterdir())


def test_a_backup_that_does_not_fit_stops_the_deploy_before_any_migration(
    project: Project, database: Database, small_disk: Mount
) -> None:
    disk = small_disk("64k")
    result = project.run("guardedmigrate", MIGRATION_GUARD_BACKUP_DIR=str(disk))
    assert result.returncode == 5, result.stderr
    assert full(result.stderr), result.stderr
    assert project.state() == "pre"
    assert project.rows() == ROWS
    assert used(disk) == []  # nothing half-written fills the disk
    assert last_run(database)[1] == "failed"
    assert project.leftovers() == []
    # with room, the same deploy goes through
    result = project.run("guardedmigrate", MIGRATION_GUARD_BACKUP_DIR=str(disk.parent))
    assert result.returncode == 0, result.stderr
    assert project.state() == "post"


def test_a_restore_whose_safety_backup_does_not_fit_touches_nothing(
    project: Project, database: Database, small_disk: Mount
) -> None:
    disk = small_disk("32m")
    env = {"MIGRATION_GUARD_BACKUP_DIR": str(disk)}
    created = project.run("migrationbackups", "create", "--format", "json", **env)
    assert created.returncode == 0, created.stderr
    backup_id = json.loads(created.stdout)["id"]
    assert project.run("guardedmigrate", FAULT_SLEEP="0", **env).returncode == 0
    assert project.state() == "post"
    before = used(disk)
    with filled(disk):
        result = project.run("migrationbackups", "restore", backup_id, **env)
        assert result.returncode == 5, result.stderr
        assert full(result.stderr), result.stderr
        assert project.state() == "post"
        assert project.rows() == ROWS
        assert used(disk) == sorted([*before, "filler"])
    assert project.leftovers() == []
    result = project.run("migrationbackups", "restore", backup_id, **env)
    assert result.returncode == 0, result.stderr
    assert project.state() == "pre"
    assert project.rows() == ROWS
