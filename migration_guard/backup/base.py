"""The backup backend interface and its registry, keyed by ``connection.vendor``.

Keying by vendor (not by ENGINE) makes PostGIS, MySQL GIS and wrapper
engines (connection poolers, instrumentation) use the backend of the
database they talk to.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard import vendors
from migration_guard.conf import migration_guard_settings as conf

if TYPE_CHECKING:
    from migration_guard.backup.scoped import TableScope

Progress = Callable[[int], None]
"""Called with a number of bytes done, from time to time, during long work."""


class BackupError(Exception):
    """A dump, a verification or a restore failed; the message says why."""


class BackupBackend(abc.ABC):
    """How to dump, verify and restore one vendor's databases.

    A backend writes a complete backup to a path it is given (a temporary
    name: storage fsyncs, hashes and renames it), checks that a file is a
    complete backup of its format, and restores one into the database.
    """

    vendor: ClassVar[str]
    format: ClassVar[str]
    extension: ClassVar[str]

    #: other formats this backend restores (older or optional layouts)
    formats: ClassVar[tuple[str, ...]] = ()

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    @property
    def settings_dict(self) -> dict[str, Any]:
        return self.connection.settings_dict

    def accepts(self, format: str) -> bool:
        """Whether this backend restores backups of ``format``."""
        return format == self.format or format in self.formats

    def layout(self) -> tuple[str, str]:
        """The format and file extension of the next backup (settings may
        choose another than :attr:`format`)."""
        return self.format, self.extension

    #: the dump binaries, in order of preference (DUMP_COMMANDS replaces them)
    dump_tools: ClassVar[tuple[str, ...]] = ()

    def command(self, *candidates: str) -> str:
        """The client binary among ``candidates`` (names in order of preference).

        ``MIGRATION_GUARD["DUMP_COMMANDS"][vendor]`` names the dump binary; the
        other clients (restore, shell) are taken from the same directory, so
        one setting selects a whole client version.
        """
        from migration_guard.backup.process import which

        override = (conf.DUMP_COMMANDS or {}).get(self.vendor)
        if override:
            if candidates == self.dump_tools:
                return str(override)
            directory = Path(override).parent
            for candidate in candidates:
                if which(str(directory / candidate)):
                    return str(directory / candidate)
            return str(directory / candidates[0])
        for candidate in candidates:
            if which(candidate):
                return candidate
        return candidates[0]

    #: client binaries needed, each a group of alternatives in order of preference
    required_tools: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def missing_tools(self) -> list[str]:
        """The required client binaries that cannot be found (no database query)."""
        from migration_guard.backup.process import which

        return [
            self.command(*group)
            for group in self.required_tools
            if which(self.command(*group)) is None
        ]

    @abc.abstractmethod
    def problems(self) -> list[str]:
        """Why backups cannot be taken or restored here (missing tools...)."""

    @abc.abstractmethod
    def versions(self) -> dict[str, str]:
        """``{"server": ..., "client": ...}`` for the manifest."""

    @abc.abstractmethod
    def dump(
        self,
        path: Path,
        progress: Progress | None = None,
        tables: Sequence[str] | None = None,
    ) -> str | None:
        """Write a complete backup of the database to ``path``.

        ``tables``: only those tables (a plan-scoped backup, backends whose
        :attr:`scoped` is true), with their indexes, constraints and
        sequences. A backend that checks the format while the dump streams
        by returns the sha256 of the stream it checked (the caller compares
        it with the file read back); None means "call :meth:`verify` on the
        file".
        """

    #: whether :meth:`dump` takes ``tables`` and :meth:`load` restores a
    #: scoped backup into those tables only (RestoreOptions.scope)
    scoped: ClassVar[bool] = False

    def scope_problems(self, tables: Sequence[str]) -> list[str]:
        """Why a backup of only ``tables`` could not be restored alone here
        (a view over them, say): the backup is then of the whole database."""
        return []

    @abc.abstractmethod
    def verify(self, path: Path) -> None:
        """Raise BackupError unless ``path`` is a complete backup of this format."""

    def read_rows(self, path: Path) -> dict[str, int]:
        """Rows per table, read from the backup file itself (not the database).

        Keys are the table names as the database's catalog lists them
        (``schema.table`` on PostgreSQL). BackupError if the file does not
        read in full.
        """
        raise NotImplementedError

    def check_content(self, path: Path) -> dict[str, int]:
        """Raise BackupError unless the whole of ``path`` loads as a backup.

        Run before a restore: every byte read as the restore will read it.
        Returns the rows per table found on the way (:meth:`read_rows`).
        """
        self.verify(path)
        return self.read_rows(path)

    def restore(
        self,
        path: Path,
        progress: Progress | None = None,
        *,
        verified: bool = False,
        no_owner: bool = False,
        no_privileges: bool = False,
        scope: TableScope | None = None,
    ) -> None:
        """Replace the database's content with the backup at ``path``.

        Objects created after the backup was taken are removed too, so the
        database ends up exactly as it was. Fails on any SQL error. The file
        is verified first unless the caller just did (``verified``).
        ``no_owner``/``no_privileges`` skip restoring ownership and grants
        where the format records them (PostgreSQL). ``scope``: a plan-scoped
        backup replaces its tables only, and drops the scope's tables it
        does not hold; every other table is left as it is.
        """
        if not verified:
            self.verify(path)
        self.load(path, progress, RestoreOptions(no_owner, no_privileges, scope))
        if progress is not None:
            progress(path.stat().st_size)

    @abc.abstractmethod
    def load(
        self, path: Path, progress: Progress | None, options: RestoreOptions
    ) -> None:
        """The vendor's part of :meth:`restore`, on a verified file."""


@dataclass(frozen=True)
class RestoreOptions:
    """What a restore may leave out (PostgreSQL: ownership and grants), and
    the tables it replaces when the backup is plan-scoped."""

    no_owner: bool = False
    no_privileges: bool = False
    scope: TableScope | None = None


B = TypeVar("B", bound=type[BackupBackend])
_registry: dict[str, type[BackupBackend]] = {}
BUILTIN = ("sqlite", "postgresql", "mysql")

#: the table that says a restore is in progress (:mod:`migration_guard.run.recovery`):
#: restores leave it alone and runs refuse the database while it exists
RESTORE_MARKER_TABLE = "migration_guard_restore_in_progress"


def register(cls: B) -> B:
    _registry[cls.vendor] = cls
    return cls


def backend_class(vendor: str, alias: str | None = None) -> type[BackupBackend]:
    """The backend class of ``vendor`` (:mod:`migration_guard.vendors`);
    BackupError for unsupported vendors."""
    try:
        return vendors.get(vendor, alias=alias, doing="back up").backup_backend()
    except vendors.UnsupportedVendor as exc:
        raise BackupError(
            f"{exc} Pass --no-backup to migrate without a backup."
        ) from None


def backend_for(connection: BaseDatabaseWrapper) -> BackupBackend:
    """The backup backend of ``connection``'s vendor."""
    return backend_class(connection.vendor, connection.alias)(connection)
