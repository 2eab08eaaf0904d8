"""PostgreSQL backups: ``pg_dump`` custom-format archives, restored by ``pg_restore``.

The custom format (``-Fc``) is compressed per data block, carries a table of
contents that ``pg_restore`` can list and select from, and restores with
``--clean`` into a live database, object by object, in one transaction.
With ``MIGRATION_GUARD["BACKUP_JOBS"]`` > 1, the directory format instead
(``-Fd``, dumped and restored with ``--jobs``), packed into one tar
(:mod:`~migration_guard.backup.pg_directory`); off by default: on the 2-core
machine ``bench/parallel_backup.py`` measured it slower both ways on 1 GB
(README, "Parallel PostgreSQL backups").

A dump is verified by decoding all of it (``pg_restore --list`` would pass a
truncated file), and a restore first drops what was created since the
backup, which ``pg_restore --clean`` would leave in place: see
:meth:`PostgreSQLBackend.verify` and :meth:`PostgreSQLBackend.restore`.
How the clients connect is :mod:`~migration_guard.backup.pg_client`.
A plan-scoped backup holds the plan's tables only (one exact ``--table``
each) and is restored into those tables only, in one transaction through
``psql``: :mod:`~migration_guard.backup.pg_scoped`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup import (
    pg_archive,
    pg_cleanup,
    pg_directory,
    pg_scoped,
    process,
)
from migration_guard.backup.base import (
    BackupError,
    Progress,
    RestoreOptions,
    register,
)
from migration_guard.backup.partials import scratch_directory
from migration_guard.backup.pg_archive import check_magic
from migration_guard.backup.pg_client import PostgreSQLClients, detail
from migration_guard.conf import migration_guard_settings as conf

COMPRESSION = 1
"""gzip level of the dumps (``pg_dump --compress``), chosen by measurement.

``bench/pg_compression.py --size-mb 1024`` (PostgreSQL 15.20, 2 CPUs, a
1077 MB database of mixed order/audit-log/customer rows, median of 3 runs;
"verify s" is :meth:`PostgreSQLBackend.verify`, ``pg_restore --file=/dev/null``)::

    pg_dump -Fc    size MB  size/def  dump s  speed-up  --list s  verify s
    ----------------------------------------------------------------------
    default (-Z6)    171.0      1.00   19.92     1.00x      0.03      2.47
    -Z0              855.4      5.00    8.70     2.29x      0.04      0.60
    -Z1              206.4      1.21    8.91     2.23x      0.03      2.60
    -Z3              190.4      1.11   11.31     1.76x      0.03      2.42
    -Z6              171.0      1.00   22.30     0.89x      0.04      2.53
    -Z9              165.9      0.97   40.22     0.50x      0.03      2.40

A backup is taken before every deploy, so dump time is what counts: level 1
is 2.2x faster than pg_dump's default (level 6) for files 21% larger, and
within noise of level 0, whose files are four times larger. Level 1 also
keeps zlib's per-block checksum, which is what lets :meth:`verify
<PostgreSQLBackend.verify>` notice altered bytes in table data (at level 0 the
data is stored as is and a flipped byte goes unnoticed). Levels 3 and up buy
a few percent of size with much more time. pg_dump 15 has no lz4/zstd
(``--compress=METHOD`` is PostgreSQL 16+).
"""

#: The packed directory archive of parallel backups (:mod:`pg_directory`).
DIRECTORY_FORMAT = "pg-directory"
DIRECTORY_EXTENSION = ".dir.tar"


def backup_jobs() -> int:
    """``MIGRATION_GUARD["BACKUP_JOBS"]``: parallel jobs of a PostgreSQL backup
    and restore (1: one process, custom format). BackupError when invalid
    (``manage.py check`` reports it as migration_guard.E016)."""
    jobs = conf.BACKUP_JOBS
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BackupError(
            f"MIGRATION_GUARD['BACKUP_JOBS'] is {jobs!r}: use a whole number of "
            "parallel jobs, at least 1."
        )
    return jobs


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells one file from another, or from itself rewritten: the inode
    change time too, which a rewrite in place changes even when the
    modification time is set back (``rsync --inplace --times``)."""
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


# -- the backend -------------------------------------------------------------


@register
class PostgreSQLBackend(PostgreSQLClients):
    vendor = "postgresql"
    format = "pg-custom"
    extension = ".dump"
    formats = (DIRECTORY_FORMAT,)
    dump_tools = ("pg_dump",)
    required_tools = (dump_tools, ("pg_restore",))
    scoped = True

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        super().__init__(connection)
        #: rows counted while a dump was checked, by file identity
        self._counted: dict[Path, tuple[tuple[int, ...], dict[str, int]]] = {}

    def layout(self) -> tuple[str, str]:
        if backup_jobs() > 1:
            return DIRECTORY_FORMAT, DIRECTORY_EXTENSION
        return self.format, self.extension

    # -- dump ----------------------------------------------------------------

    def dump(
        self,
        path: Path,
        progress: Progress | None = None,
        tables: Sequence[str] | None = None,
    ) -> str | None:
        """A custom-format archive (:meth:`dump_custom`), or with
        ``BACKUP_JOBS`` > 1 a packed directory archive (:meth:`dump_directory`);
        of ``tables`` only when given (:func:`pg_scoped.table_arguments`)."""
        only = (
            pg_scoped.table_arguments(self.connection, tables, self.database_name)
            if tables is not None
            else []
        )
        jobs = backup_jobs()
        if jobs > 1:
            return self.dump_directory(path, jobs, progress, only)
        return self.dump_custom(path, progress, only)

    def scope_problems(self, tables: Sequence[str]) -> list[str]:
        """What a restore of only ``tables`` would drop besides them
        (:func:`pg_scoped.scope_problems`), or a missing psql."""
        psql = self.command("psql")
        if process.which(psql) is None:
            return [
                f"psql ({psql}), which restores the plan's tables, is not installed"
            ]
        return pg_scoped.scope_problems(self.connection, tables)

    def dump_custom(
        self, path: Path, progress: Progress | None, only: Sequence[str] = ()
    ) -> str:
        """``pg_dump --format=custom --compress=COMPRESSION``, checked as it streams.

        pg_dump writes to a pipe; migration_guard copies the stream to ``path``
        and into ``pg_restore --file=/dev/null`` at the same time, so the full
        decode of :meth:`verify` overlaps the dump instead of following it.
        Measured on 1 GB with 2 cores already busy (server, pg_dump, other
        work): 10.62 s against 10.84 s dump-then-decode, 8.79 s bare pg_dump;
        the gain needs a spare core.
        An archive written to a pipe has no data offsets in its table of
        contents; pg_restore reads it sequentially, which is how a
        single-transaction restore reads it anyway.

        The check writes the script (``--file=-``) and the rows of each COPY
        are counted on the way (:func:`pg_archive.copy_rows`), as
        :meth:`read_rows` would count them: the caller compares the returned
        sha256 with the file read back, so they are the file's rows, and
        :meth:`read_rows` does not decode the file a second time.
        ``bench/backup_paths.py`` measured that second decode at 28% of a
        300 MiB backup (README, "Backups and restores").
        """
        pg_dump = self.command("pg_dump")
        check = [self.command("pg_restore"), "--file=-"]
        counted: dict[str, int] = {}

        def count(script: IO[bytes]) -> None:
            counted.update(pg_archive.copy_rows(script))

        with self.client_call() as call:
            argv = [pg_dump, "--format=custom", f"--compress={COMPRESSION}",
                    *only, *call.args]  # fmt: skip
            try:
                digest = process.tee(
                    argv,
                    path,
                    check=check,
                    env=call.env,
                    secrets=call.secrets,
                    progress=progress,
                    check_output=count,
                )
            except process.ProcessError as exc:
                if str(exc).startswith("Reading the output"):  # the count, ours
                    raise BackupError(
                        "Counting the rows of the dump of database "
                        f"{self.database_name!r} failed: {exc}"
                    ) from exc
                if str(exc).startswith("pg_restore"):  # the check of the stream
                    raise BackupError(
                        f"The dump of database {self.database_name!r} is not a "
                        f"complete pg_dump custom-format archive: {detail(exc)}"
                    ) from exc
                raise BackupError(
                    f"pg_dump of database {self.database_name!r} failed: {detail(exc)}"
                ) from exc
        self._counted[path] = (_identity(path), counted)
        return digest

    def dump_directory(
        self, path: Path, jobs: int, progress: Progress | None, only: Sequence[str] = ()
    ) -> str:
        """``pg_dump --format=directory --jobs=N``, decoded in full, then packed.

        pg_dump writes a directory (a scratch one beside ``path``); the whole
        of it is decoded by ``pg_restore --file=-`` (the check of
        :meth:`verify`, counting the rows on the way), then packed into the
        tar at ``path``. Returns the sha256 of the tar as written; the caller
        compares it with the file read back, so the rows counted here are
        those of the file (:meth:`read_rows` does not decode it again).
        """
        pg_dump = self.command("pg_dump")
        with scratch_directory(path) as work, self.client_call() as call:
            directory = work / "archive"
            argv = [pg_dump, "--format=directory", f"--compress={COMPRESSION}",
                    f"--jobs={jobs}", f"--file={directory}", *only,
                    *call.args]  # fmt: skip
            try:
                process.run(
                    argv, env=call.env, secrets=call.secrets, watch=work,
                    progress=progress,
                )  # fmt: skip
            except process.ProcessError as exc:
                raise BackupError(
                    f"pg_dump of database {self.database_name!r} failed: {detail(exc)}"
                ) from exc
            rows = self._decode(directory, path)
            digest = pg_directory.pack(directory, path)
        self._counted[path] = (_identity(path), rows)
        return digest

    # -- verify --------------------------------------------------------------

    @contextlib.contextmanager
    def _archive(self, path: Path) -> Iterator[Path]:
        """What pg_restore reads: the custom archive ``path``, or the
        directory archive packed in it, unpacked."""
        if pg_directory.is_directory_archive(pg_directory.read_head(path)):
            with pg_directory.unpacked(path) as directory:
                yield directory
        else:
            check_magic(path)
            yield path

    def verify(self, path: Path) -> None:
        """Decode the whole archive: ``pg_restore --file=/dev/null PATH``.

        ``pg_restore --list`` reads only the header and the table of contents,
        which pg_dump writes first: a dump cut anywhere in its data passes it.
        Writing the archive as a SQL script to /dev/null makes pg_restore read
        every data block and inflate it (zlib checks each block's Adler-32,
        gzip each data file's CRC-32 in a directory archive), so truncation
        and altered bytes in compressed data both fail. Measured on a 1 GB
        database (see :data:`COMPRESSION`): 2.6 s, 29% of the 8.9 s dump,
        against 0.03 s for ``--list``; skipping the schema text
        (``--data-only``) saves nothing, the time is zlib inflating the data.
        No server connection is involved.
        """
        with self._archive(path) as archive:
            argv = [self.command("pg_restore"), f"--file={os.devnull}", str(archive)]
            try:
                process.run(argv)
            except process.ProcessError as exc:
                if exc.returncode is None:  # not installed, could not start
                    raise BackupError(f"Cannot verify {path}: {exc}") from exc
                raise _incomplete(path, archive, exc) from exc

    def _decode(self, archive: Path, path: Path) -> dict[str, int]:
        """Rows per table, from one full decode of ``archive`` (from ``path``)."""
        try:
            return pg_archive.decode_rows(self.command("pg_restore"), archive)
        except process.ProcessError as exc:
            raise _incomplete(path, archive, exc) from exc

    def read_rows(self, path: Path) -> dict[str, int]:
        """Decode the whole archive as SQL and count the rows of each COPY.

        ``pg_restore --file=-`` writes the script a restore runs; every data
        block is inflated on the way (as :meth:`verify` does), so this is
        also the full check of the file. No server connection is involved.
        The rows of an archive this backend just dumped and decoded (either
        format) are not decoded twice, as long as the file is the one it wrote.
        """
        counted = self._counted.get(path)
        if counted is not None and counted[0] == _identity(path):
            return dict(counted[1])
        return self.check_content(path)

    def check_content(self, path: Path) -> dict[str, int]:
        """The archive's signature, then one full decode that counts the rows."""
        with self._archive(path) as archive:
            return self._decode(archive, path)

    # -- restore -------------------------------------------------------------

    def load(
        self, path: Path, progress: Progress | None, options: RestoreOptions
    ) -> None:
        """Drop what the archive does not know, then ``pg_restore --clean``.

        ``--clean --if-exists`` drops and recreates every object of the
        archive, but leaves alone objects created since the backup (a table
        of a failed non-atomic migration, say), which may even block it (a
        foreign key to a table it drops). Those are dropped first, in one
        transaction (see :mod:`~migration_guard.backup.pg_cleanup`). The
        archive is verified before anything is dropped, so a damaged file
        changes nothing; pg_restore then stops at the first error, in one
        transaction for a custom archive. A directory archive restores with
        ``--jobs=BACKUP_JOBS``, which pg_restore cannot combine with
        ``--single-transaction``: a failure leaves part of the backup loaded,
        and the restore marker (:mod:`migration_guard.run.recovery`) makes
        runs refuse the database until a restore completes.
        Django's connection is closed around each step: its session could
        hold locks that would make ``--clean`` wait forever. A plan-scoped
        backup (``options.scope``) replaces its tables only
        (:meth:`_load_scoped`).
        """
        if self.connection.in_atomic_block:
            raise BackupError(
                f"Cannot restore database {self.database_name!r} inside a "
                "transaction (transaction.atomic): pg_restore would wait for its "
                "locks."
            )
        with self._archive(path) as archive:
            if options.scope is not None:
                self._load_scoped(archive, path, options)
                return
            jobs = backup_jobs() if archive.is_dir() else 1
            self._drop_extra_objects(archive, path)
            self._pg_restore(archive, path, options, jobs)

    def _load_scoped(self, archive: Path, path: Path, options: RestoreOptions) -> None:
        """Replace the scope's tables only, in one transaction (:mod:`pg_scoped`).

        Refused, nothing changed, when dropping them would drop more than
        the restore puts back (:meth:`scope_problems`).
        """
        scope = options.scope
        assert scope is not None
        problems = self.scope_problems(scope.planned)
        if problems:
            raise BackupError(
                f"Cannot restore only the plan's tables of {path} into database "
                f"{self.database_name!r}, nothing was changed: {'; '.join(problems)}. "
                "Restore a full backup instead."
            )
        role = (self.settings_dict.get("OPTIONS") or {}).get("assume_role")
        around = pg_scoped.script(self.connection, scope.planned, scope.present, role)
        self.connection.close()
        flags = ["--no-owner"] * options.no_owner
        flags += ["--no-privileges"] * options.no_privileges
        restore = [self.command("pg_restore"), "--file=-", *flags, str(archive)]
        with self.client_call() as call:
            psql = [self.command("psql"), "--no-psqlrc", "--quiet",
                    "--set=ON_ERROR_STOP=1", "--file=-",
                    *(a for a in call.args if not a.startswith("--role="))]  # fmt: skip
            try:
                pg_scoped.load(
                    restore, psql, around, env=call.env, secrets=call.secrets
                )
            except process.ProcessError as exc:
                raise pg_scoped.restore_error(path, self.database_name, exc) from exc

    def _drop_extra_objects(self, archive: Path, path: Path) -> None:
        try:
            toc = process.output([self.command("pg_restore"), "--list", str(archive)])
        except process.ProcessError as exc:
            raise BackupError(f"Cannot list {path}: {detail(exc)}") from exc
        self.connection.close()
        pg_cleanup.drop_extra_objects(
            self.connection, pg_archive.archived_objects(toc), self.database_name
        )
        self.connection.close()

    def _pg_restore(
        self, archive: Path, path: Path, options: RestoreOptions, jobs: int
    ) -> None:
        """``pg_restore --clean``: one transaction, or ``jobs`` > 1 jobs."""
        flags = ["--no-owner"] * options.no_owner
        flags += ["--no-privileges"] * options.no_privileges
        how = "--single-transaction" if jobs == 1 else f"--jobs={jobs}"
        with self.client_call() as call:
            argv = [self.command("pg_restore"), "--clean", "--if-exists", how,
                    "--exit-on-error", *flags, *call.args, str(archive)]  # fmt: skip
            try:
                process.run(argv, env=call.env, secrets=call.secrets)
            except process.ProcessError as exc:
                outcome = (
                    "failed (rolled back)"
                    if jobs == 1
                    else f"failed, the database holds part of it (--jobs={jobs} "
                    "is not one transaction)"
                )
                raise BackupError(
                    f"pg_restore of {path} into database {self.database_name!r} "
                    f"{outcome}: {detail(exc)}"
                ) from exc


def _incomplete(path: Path, archive: Path, exc: process.ProcessError) -> BackupError:
    kind = "directory-format" if archive.is_dir() else "custom-format"
    return BackupError(
        f"{path} is not a complete pg_dump {kind} archive: {detail(exc)}"
    )
