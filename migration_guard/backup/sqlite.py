"""SQLite backups through the online backup API of the ``sqlite3`` module.

The backup API copies the database page by page under SQLite's own locking,
so it sees committed transactions still in the WAL file and never a torn
file; a plain file copy would miss them. Restores go through the same API
into the live database file, so its WAL and readers stay consistent.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from migration_guard.backup import sqlite_scoped
from migration_guard.backup.base import (
    BackupBackend,
    BackupError,
    Progress,
    RestoreOptions,
    register,
)

HEADER = b"SQLite format 3\x00"
PAGES_PER_STEP = 4096


def _copy(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    progress: Progress | None,
) -> None:
    def report(status: int, remaining: int, total: int) -> None:
        if progress is not None and total:
            progress(int(page_size * (total - remaining)))

    page_size = source.execute("PRAGMA page_size").fetchone()[0]
    source.backup(target, pages=PAGES_PER_STEP, progress=report)


@contextlib.contextmanager
def _backup_file(path: Path) -> Iterator[sqlite3.Connection]:
    """The backup at ``path``, read-only and immutable (nothing written beside)."""
    try:
        check = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            yield check
        finally:
            check.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a sound SQLite database: {exc}") from exc


@register
class SQLiteBackend(BackupBackend):
    vendor = "sqlite"
    format = "sqlite-backup"
    extension = ".sqlite3"
    scoped = True

    @property
    def path(self) -> Path:
        return Path(self.settings_dict["NAME"])

    def problems(self) -> list[str]:
        if cast(SQLiteWrapper, self.connection).is_in_memory_db():
            return ["an in-memory SQLite database cannot be backed up"]
        return []

    def versions(self) -> dict[str, str]:
        return {"server": sqlite3.sqlite_version, "client": sqlite3.sqlite_version}

    def _open_live(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise BackupError(f"The SQLite database file {self.path} does not exist.")
        return sqlite3.connect(str(self.path), timeout=30)

    def dump(
        self,
        path: Path,
        progress: Progress | None = None,
        tables: Sequence[str] | None = None,
    ) -> str | None:
        problems = self.problems()
        if problems:
            raise BackupError(problems[0])
        if tables is not None:
            self._open_live().close()  # the file exists
            sqlite_scoped.dump_tables(self.path, path, tables)
            return None
        source = self._open_live()
        target = sqlite3.connect(str(path))
        try:
            # the caller fsyncs and reads the whole file back afterwards
            target.execute("PRAGMA synchronous=OFF")
            _copy(source, target, progress)
            # a self-contained file: no WAL beside the backup
            target.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite backup of {self.path} failed: {exc}") from exc
        finally:
            target.close()
            source.close()
        return None

    def verify(self, path: Path) -> None:
        """Header, and the size the header promises (catches any truncation).

        The checksum (storage) catches altered bytes; here the file must be a
        complete SQLite database: the right magic string, and exactly
        page size x page count bytes, both read from the 100-byte header.
        """
        try:
            with open(path, "rb") as handle:
                header = handle.read(100)
        except OSError as exc:
            raise BackupError(f"Cannot read backup {path}: {exc.strerror}") from exc
        if len(header) < 100 or not header.startswith(HEADER):
            raise BackupError(f"{path} is not a SQLite database file.")
        (page_size,) = struct.unpack(">H", header[16:18])
        page_size = 65536 if page_size == 1 else page_size
        (page_count,) = struct.unpack(">I", header[28:32])
        size = path.stat().st_size
        if page_count and size != page_size * page_count:
            raise BackupError(
                f"{path} is not a complete SQLite database: {size} bytes, the "
                f"header promises {page_count} pages of {page_size} bytes."
            )
        try:
            check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                check.execute("PRAGMA schema_version").fetchone()
            finally:
                check.close()
        except sqlite3.Error as exc:
            raise BackupError(
                f"{path} is not a readable SQLite database: {exc}"
            ) from exc

    def read_rows(self, path: Path) -> dict[str, int]:
        """``count(*)`` of every table in the backup file (a local copy)."""
        with _backup_file(path) as check:
            names = [
                row[0]
                for row in check.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            return {
                name: check.execute(
                    f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"'
                ).fetchone()[0]
                for name in names
            }

    def check_content(self, path: Path) -> dict[str, int]:
        """:meth:`verify`, then ``PRAGMA integrity_check`` on the backup file.

        Every page is read and every index checked against its table: a
        file whose bytes were changed (and its sha256 with them) is refused
        before the live database is touched. Opened read-only and immutable,
        so the check writes nothing beside the backup.
        """
        self.verify(path)
        with _backup_file(path) as check:
            problems = [row[0] for row in check.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            shown = "; ".join(str(p) for p in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise BackupError(
                f"{path} fails SQLite's integrity check: {shown}{more}. Do not "
                "restore it."
            )
        return self.read_rows(path)

    def scope_problems(self, tables: Sequence[str]) -> list[str]:
        return sqlite_scoped.problems(self.path, tables)

    def load(
        self, path: Path, progress: Progress | None, options: RestoreOptions
    ) -> None:
        self.connection.close()
        if options.scope is not None:
            self._open_live().close()  # the file exists
            sqlite_scoped.restore_tables(self.path, path, options.scope)
            return
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = self._open_live()
        try:
            _copy(source, target, progress)
        except sqlite3.Error as exc:
            raise BackupError(
                f"Restoring {self.path} from {path} failed: {exc}"
            ) from exc
        finally:
            target.close()
            source.close()
