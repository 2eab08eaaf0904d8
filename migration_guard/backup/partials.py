"""What a killed run leaves half-written in a local store, and its removal.

A backup is written as ``.NAME.partial`` (renamed when complete) and a
directory-format archive lives in a scratch ``.NAME-XXXX.partial.d`` while it
is written or read. Whoever uses one holds an exclusive ``flock`` on it for
as long as it does; one whose lock can be taken has no user left (the kernel
drops the lock of a killed process), and is removed by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: scratch directories end so; see :func:`scratch_directory`
SCRATCH_SUFFIX = ".partial.d"


@contextlib.contextmanager
def scratch_directory(beside: Path) -> Iterator[Path]:
    """A private directory next to ``beside`` (same file system), removed on exit.

    For archives that are directories while they are written or read (see
    :mod:`~migration_guard.backup.pg_directory`). It holds an exclusive
    ``flock`` while in use, so :func:`remove_stale` of another
    run leaves it alone, and removes it once this process is gone.
    """
    directory = Path(
        tempfile.mkdtemp(
            prefix=f".{beside.name.lstrip('.')}-",
            suffix=SCRATCH_SUFFIX,
            dir=beside.parent,
        )
    )
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        os.close(fd)


def _take_if_unused(path: Path, flags: int) -> int | None:
    """An fd of ``path`` with its ``flock`` taken, or None if someone holds it."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def remove_stale(directory: Path) -> list[Path]:
    """Remove the partial files and scratch directories of ``directory``
    nobody uses any more (their user was killed); return their paths."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for path in directory.glob(".*.partial"):
        fd = _take_if_unused(path, os.O_RDONLY)
        if fd is None:
            continue
        try:
            if os.fstat(fd).st_nlink:  # not already replaced by its writer
                path.unlink(missing_ok=True)
                removed.append(path)
        finally:
            os.close(fd)
    for path in directory.glob(".*" + SCRATCH_SUFFIX):
        fd = _take_if_unused(path, os.O_RDONLY | os.O_DIRECTORY)
        if fd is not None:
            shutil.rmtree(path, ignore_errors=True)
            os.close(fd)
            removed.append(path)
    return removed
