"""Directory-format archives (``pg_dump -Fd``), kept in the store as one tar.

``pg_dump --jobs`` and ``pg_restore --jobs`` need the directory format: a
``toc.dat`` (the table of contents, starting with ``PGDMP``) and one
compressed file per table's data. The store keeps files, so the directory is
packed into an uncompressed tar (the data files are compressed already):
one file, one size, one sha256 in the manifest, deleted whole by retention,
uploaded as is to a Django storage. ``toc.dat`` is the first member, so the
file's first bytes say what it is (:func:`is_directory_archive`).

The tar is read back into a private scratch directory beside it before it
is decoded or restored (:func:`unpacked`); members are extracted with
tarfile's ``data`` filter (no absolute paths, no ``..``, no links out).
"""

from __future__ import annotations

import contextlib
import hashlib
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from migration_guard.backup.base import BackupError
from migration_guard.backup.partials import scratch_directory
from migration_guard.backup.pg_archive import MAGIC

TOC = "toc.dat"
#: GNU tar: members over 8 GiB (one large table's data) need its size field
TAR_FORMAT = tarfile.GNU_FORMAT
#: the tar header of the first member is one 512-byte block
HEADER = 512


def is_directory_archive(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts a packed directory archive."""
    name = TOC.encode() + b"\0"
    return head.startswith(name) and head[HEADER : HEADER + len(MAGIC)] == MAGIC


def read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(HEADER + len(MAGIC))
    except OSError as exc:
        raise BackupError(f"Cannot read backup {path}: {exc.strerror}") from exc


class _Hashing:
    """A binary file that hashes what is written to it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def tell(self) -> int:
        return self.handle.tell()


def pack(directory: Path, path: Path) -> str:
    """Pack the archive ``directory`` into the tar ``path``; its sha256.

    ``toc.dat`` first, then the data files in name order. Only plain files
    are expected (pg_dump writes nothing else).
    """
    members = sorted(directory.iterdir(), key=lambda p: (p.name != TOC, p.name))
    if not members or members[0].name != TOC:
        raise BackupError(f"pg_dump wrote no {TOC} in {directory}.")
    with open(path, "wb") as handle:
        sink = _Hashing(handle)
        with tarfile.open(fileobj=sink, mode="w", format=TAR_FORMAT) as tar:  # type: ignore[call-overload]
            for member in members:
                info = tar.gettarinfo(str(member), arcname=member.name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(member, "rb") as data:
                    tar.addfile(info, data)
    return sink.digest.hexdigest()


@contextlib.contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """The archive packed in ``path``, extracted into a scratch directory.

    BackupError when ``path`` is not a complete tar of plain files (a cut
    file fails here already, before pg_restore reads anything).
    """
    with scratch_directory(path) as directory:
        try:
            with tarfile.open(path, mode="r:") as tar:
                for member in tar:
                    if not member.isfile() or "/" in member.name:
                        raise BackupError(
                            f"{path} holds {member.name!r}, which is not a file "
                            "of a pg_dump directory archive."
                        )
                    tar.extract(member, directory, filter="data")
        except (tarfile.TarError, EOFError) as exc:
            raise BackupError(
                f"{path} is not a complete packed directory archive: {exc}"
            ) from exc
        except OSError as exc:
            raise BackupError(f"Cannot unpack {path}: {exc.strerror or exc}") from exc
        if not (directory / TOC).is_file():
            raise BackupError(f"{path} holds no {TOC}: it is not a pg_dump archive.")
        yield directory
