"""MySQL and MariaDB backups: ``mariadb-dump``/``mysqldump`` SQL, loaded back by
the ``mariadb``/``mysql`` client.

Connection parameters reach the clients through an option file of mode 0600,
passed with ``--defaults-file`` as the first argument, never through argv (the
password would show in ``ps`` and in error messages). ``--defaults-file``
rather than ``--defaults-extra-file``: an extra file is read *before*
``~/.my.cnf``, so a developer's personal ``[client]`` user or password would
silently override the project's settings. With ``--defaults-file`` the clients
read exactly what Django's own connection reads: the settings, plus
``OPTIONS["read_default_file"]`` which the option file pulls in with
``!include`` before its own values, so explicit settings win over the file's,
as they do for mysqlclient. (``OPTIONS["read_default_group"]`` is not
honoured: the clients read their own groups, ``[client]`` and
``[mysqldump]``/``[mysql]`` among them.)

Restores empty the database first (tables, views, sequences, routines,
events), then load the dump with the client, which stops at the first SQL
error, so the database ends up exactly as backed up or the restore fails.
A plan-scoped backup holds only the plan's tables (with their triggers); its
restore drops and reloads those alone (:mod:`.mysql_cleanup`,
:mod:`.mysql_scope`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from migration_guard.backup import mysql_dump, mysql_scope, process
from migration_guard.backup.base import (
    BackupBackend,
    BackupError,
    Progress,
    RestoreOptions,
    register,
)
from migration_guard.backup.mysql_cleanup import cleanup_sql, scoped_cleanup_sql
from migration_guard.backup.mysql_dump import DumpError
from migration_guard.conf import migration_guard_settings as conf

#: the restore clients, in order of preference (same directory as the dump tool)
CLIENTS = ("mariadb", "mysql")
INSTALL_HINT = (
    "install the MariaDB or MySQL client programs (apt-get install "
    "mariadb-client), or name the dump binary in "
    "MIGRATION_GUARD['DUMP_COMMANDS']['mysql']"
)
#: large rows are dumped as one statement; the clients' default packet limit
#: (16 MiB) would fail on them, 1 GiB is the protocol's maximum
MAX_PACKET = "--max-allowed-packet=1G"
#: the first lines a dump may start with (MariaDB >= 10.5.25/10.6.18/10.11.8
#: put a sandbox-mode comment before the header)
HEADERS = (b"-- MariaDB dump", b"-- MySQL dump")
COMPLETED = b"-- Dump completed"
HEAD_BYTES = 4096
TAIL_BYTES = 4096
#: a scoped dump holds tables: the database's routines and events stay
SCOPED_SKIPS = ("--skip-routines", "--skip-events")
#: option file lines longer than this are split by the clients' parser
MAX_OPTION_LINE = 4000

_client_versions: dict[str, str] = {}
_versions_lock = threading.Lock()


def option_value(value: str) -> str:
    """``value`` double-quoted for a MySQL option file, read back unchanged.

    The clients strip unquoted values, cut them at ``#``, and interpret
    backslash escapes: inside double quotes ``#`` and ``'`` are literal, and
    ``\\\\``, ``\\"`` and the control characters are escaped. Lines are split
    at newlines, so a raw newline must never reach the file.
    """
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
    )
    if "\x00" in value or len(escaped) > MAX_OPTION_LINE:
        raise BackupError(
            "A MySQL connection setting cannot be written to a client option "
            "file (it contains a NUL byte or is longer than "
            f"{MAX_OPTION_LINE} characters)."
        )
    return f'"{escaped}"'


#: the part of a server error that quotes the statement ("near '...' at line")
_NEAR = re.compile(r"near '.*' at line (\d+)", re.DOTALL)


def without_data(exc: BaseException) -> str:
    """The client's error without the text of the statement it quotes.

    A syntax error quotes the statement near the error: in a dump, rows of
    the backup. The line number in the file is kept.
    """
    return _NEAR.sub(r"near (statement not shown) at line \1", str(exc))


def _flavor_args(version: str) -> list[str]:
    """Options only Oracle's mysqldump knows, for dumps that load anywhere.

    ``--set-gtid-purged=OFF``: on a GTID server mysqldump would otherwise
    write ``SET @@GLOBAL.GTID_PURGED``, which fails on restore into a server
    that executed transactions since (and needs more privileges).
    ``--column-statistics=0`` (8.0+): mysqldump 8 queries a table MariaDB
    servers do not have.
    """
    if "mariadb" in version.lower():
        return []
    args = ["--set-gtid-purged=OFF"]
    match = re.search(r"\bVer (\d+)\.", version)
    if match and int(match.group(1)) >= 8:
        args.append("--column-statistics=0")
    return args


@contextlib.contextmanager
def _report_position(handle: IO[bytes], progress: Progress | None) -> Iterator[None]:
    """Report how far the child has read ``handle``, twice a second.

    The child inherits the open file description of ``handle`` as its
    stdin, so the parent sees the child's read offset with ``lseek``.
    """
    if progress is None:
        yield
        return
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.5):
            with contextlib.suppress(OSError):
                progress(os.lseek(handle.fileno(), 0, os.SEEK_CUR))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@register
class MySQLBackend(BackupBackend):
    vendor = "mysql"
    format = "mysql-sql"
    extension = ".sql"
    dump_tools = ("mariadb-dump", "mysqldump")
    required_tools = (dump_tools, CLIENTS)
    scoped = True

    # -- connection parameters -------------------------------------------

    @property
    def options(self) -> Mapping[str, Any]:
        return self.settings_dict.get("OPTIONS") or {}

    @property
    def database_name(self) -> str:
        """The database, with mysqlclient's ``OPTIONS`` overrides as Django has."""
        options = self.options
        return str(
            options.get("database", options.get("db", self.settings_dict["NAME"]))
        )

    @property
    def password(self) -> str:
        options = self.options
        return str(
            options.get(
                "password", options.get("passwd", self.settings_dict.get("PASSWORD"))
            )
            or ""
        )

    def client_options(self, flavor: str = "") -> dict[str, str]:
        """The ``[client]`` options equivalent to Django's connection parameters.

        ``OPTIONS`` override the top-level settings (Django passes them to
        mysqlclient last). A HOST starting with ``/`` is a socket, as in
        Django's connection. ``flavor`` ("mariadb"/"mysql", from the binary's
        version) selects how ``OPTIONS["ssl_mode"]`` is spelled.
        """
        settings, options = self.settings_dict, self.options
        user = options.get("user", settings.get("USER")) or ""
        host = str(options.get("host", settings.get("HOST")) or "")
        port = options.get("port", settings.get("PORT")) or ""
        socket = str(options.get("unix_socket") or "")
        if host.startswith("/"):
            socket, host = socket or host, ""
        values: dict[str, str] = {}
        if user:
            values["user"] = option_value(str(user))
        if self.password:
            values["password"] = option_value(self.password)
        if host:
            values["host"] = option_value(host)
        if port:
            values["port"] = str(int(port))
        if socket:
            values["socket"] = option_value(socket)
        if options.get("connect_timeout"):
            values["connect-timeout"] = str(int(options["connect_timeout"]))
        ssl = options.get("ssl") or {}
        for key in ("ca", "capath", "cert", "key", "cipher"):
            if ssl.get(key):
                values[f"ssl-{key}"] = option_value(str(ssl[key]))
        mode = str(options.get("ssl_mode") or "").upper()
        if mode and flavor == "mysql":
            values["ssl-mode"] = mode
        elif mode == "DISABLED":
            values["skip-ssl"] = ""
        elif mode in ("REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"):
            values["ssl"] = ""
            if mode == "VERIFY_IDENTITY":
                values["ssl-verify-server-cert"] = ""
        return values

    def option_file(self, flavor: str = "") -> str:
        """The text of the ``--defaults-file`` of one client run."""
        lines = ["# written by migration_guard for one client run, then removed"]
        include = self.options.get("read_default_file")
        if include:
            # !include takes the rest of the line verbatim: no quoting possible
            path = os.path.abspath(os.path.expanduser(str(include)))
            if any(char in path for char in "\r\n\x00") or path != path.strip():
                raise BackupError(
                    f"OPTIONS['read_default_file'] {path!r} cannot be included in "
                    "a client option file (line breaks or surrounding spaces)."
                )
            lines.append(f"!include {path}")
        lines.append("[client]")
        for key, value in self.client_options(flavor).items():
            lines.append(f"{key}={value}" if value else key)
        return "\n".join(lines) + "\n"

    @contextlib.contextmanager
    def defaults_file(self, flavor: str = "") -> Iterator[str]:
        """``--defaults-file=PATH`` of a 0600 option file, removed on exit."""
        with process.secret_file(self.option_file(flavor), suffix=".cnf") as path:
            yield f"--defaults-file={path}"

    # -- tools -------------------------------------------------------------

    @property
    def dump_command(self) -> str:
        return self.command(*self.dump_tools)

    @property
    def client_command(self) -> str:
        return self.command(*CLIENTS)

    def _missing(self, binary: str, names: tuple[str, ...], role: str) -> str | None:
        if process.which(binary):
            return None
        override = (conf.DUMP_COMMANDS or {}).get(self.vendor)
        where = (
            f"{binary} (from MIGRATION_GUARD['DUMP_COMMANDS']['mysql'] = {override!r}) "
            "does not exist or is not executable"
            if override
            else f"{' or '.join(names)} is not installed or not on PATH"
        )
        return f"The MySQL/MariaDB {role} is missing: {where}; {INSTALL_HINT}."

    def problems(self) -> list[str]:
        """The dump tool and the client, both needed: a backup is only as good
        as the restore it allows."""
        found = [
            self._missing(self.dump_command, self.dump_tools, "dump tool"),
            self._missing(self.client_command, CLIENTS, "client (for restores)"),
        ]
        return [problem for problem in found if problem]

    def client_version(self, binary: str) -> str:
        """``binary --version``, run once per binary and process."""
        key = process.which(binary) or binary
        with _versions_lock:
            cached = _client_versions.get(key)
        if cached is not None:
            return cached
        try:
            text = process.output([binary, "--version"])
        except process.ProcessError as exc:
            raise BackupError(f"Cannot run {binary} --version: {exc}") from exc
        version = " ".join(text.split())
        with _versions_lock:
            _client_versions[key] = version
        return version

    def flavor(self, binary: str) -> str:
        """Which client family ``binary`` belongs to: "mariadb" or "mysql"."""
        return (
            "mariadb" if "mariadb" in self.client_version(binary).lower() else "mysql"
        )

    def versions(self) -> dict[str, str]:
        """The server's ``VERSION()`` and the dump tool's ``--version`` line."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            server = str(cursor.fetchone()[0])
        return {"server": server, "client": self.client_version(self.dump_command)}

    def _require(self, binary: str, names: tuple[str, ...], role: str) -> None:
        problem = self._missing(binary, names, role)
        if problem:
            raise BackupError(problem)

    # -- dump and verify ---------------------------------------------------

    def dump(
        self,
        path: Path,
        progress: Progress | None = None,
        tables: Sequence[str] | None = None,
    ) -> str | None:
        """``mariadb-dump`` of the whole database (schema, data, code) to ``path``;
        of ``tables`` only (with their triggers, no routines or events) when given.

        ``--single-transaction`` gives a consistent snapshot of InnoDB tables
        without locking them (MyISAM tables are not consistent);
        ``--no-tablespaces`` avoids needing the PROCESS privilege on MySQL 8;
        ``--hex-blob`` keeps binary data out of the charset conversion. The
        dump date stays in the completion line, which :meth:`verify` needs.
        """
        binary = self.dump_command
        self._require(binary, self.dump_tools, "dump tool")
        flavor_args = _flavor_args(self.client_version(binary))
        name = self.database_name
        with self.defaults_file(self.flavor(binary)) as defaults:
            argv = [
                binary,
                defaults,
                "--single-transaction",
                "--skip-lock-tables",
                "--quick",
                *(SCOPED_SKIPS if tables else ("--routines", "--events")),
                "--triggers",
                "--hex-blob",
                "--no-tablespaces",
                "--add-drop-table",
                "--default-character-set=utf8mb4",
                MAX_PACKET,
                *flavor_args,
                f"--result-file={path}",
                "--",
                name,
                *sorted(tables or ()),
            ]
            try:
                process.run(
                    argv, secrets=[self.password], watch=path, progress=progress
                )
            except process.ProcessError as exc:
                raise BackupError(
                    f"The dump of MySQL database '{name}' to {path} failed: {exc}"
                ) from exc
        if progress is not None:
            progress(path.stat().st_size)
        return None

    def scope_problems(self, tables: Sequence[str]) -> list[str]:
        """Views and outside triggers over ``tables`` (:mod:`.mysql_scope`)."""
        return mysql_scope.scope_problems(self.connection, tables)

    def verify(self, path: Path) -> None:
        """The dump header at the start and the completion line at the end.

        mariadb-dump/mysqldump write ``-- Dump completed`` only after the last
        statement, so its absence means a dump cut short (disk full, killed
        tool, truncated copy). Only the first and last few KiB are read.
        """
        try:
            with open(path, "rb") as handle:
                head = handle.read(HEAD_BYTES)
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - TAIL_BYTES))
                tail = handle.read()
        except OSError as exc:
            raise BackupError(f"Cannot read backup {path}: {exc.strerror}") from exc
        first_lines = head.splitlines()[:3]
        if not any(line.startswith(HEADERS) for line in first_lines):
            raise BackupError(
                f"{path} does not start with the '-- MariaDB dump' or "
                "'-- MySQL dump' header: it is not a mariadb-dump/mysqldump file."
            )
        last_lines = [line for line in tail.splitlines() if line.strip()]
        if not last_lines or not last_lines[-1].startswith(COMPLETED):
            raise BackupError(
                f"{path} does not end with the '-- Dump completed' line: the dump "
                "was cut short."
            )

    def read_rows(self, path: Path, *, parse: bool = False) -> dict[str, int]:
        """Rows per table, counted in the dump (``parse``: every row parsed)."""
        try:
            return mysql_dump.read_rows(path, parse=parse)
        except DumpError as exc:
            raise BackupError(
                f"{path} is not a well-formed dump: {exc}. Do not restore it."
            ) from exc
        except OSError as exc:
            raise BackupError(f"Cannot read backup {path}: {exc.strerror}") from exc

    def check_content(self, path: Path) -> dict[str, int]:
        """:meth:`verify`, then every statement carrying rows parsed."""
        self.verify(path)
        return self.read_rows(path, parse=True)

    # -- restore -----------------------------------------------------------

    def _feed(
        self, argv: list[str], source: IO[bytes], progress: Progress | None = None
    ) -> None:
        with _report_position(source, progress):
            process.run(argv, stdin=source, secrets=[self.password])

    def _client_argv(self, binary: str, flavor: str, defaults: str) -> list[str]:
        """The client loading SQL into the database, stopping at the first error."""
        argv = [
            binary,
            defaults,
            "--batch",
            "--binary-mode",
            "--default-character-set=utf8mb4",
            MAX_PACKET,
            f"--database={self.database_name}",
        ]
        if flavor == "mariadb":
            # the ERROR line quotes enough of the statement; the whole of a
            # failed INSERT would put rows of the backup in the message
            argv.insert(2, "--skip-print-query-on-error")
        return argv

    def _empty(self, argv: list[str], cleanup: str, path: Path) -> None:
        """Run the DROPs of :func:`~mysql_cleanup.cleanup_sql` through the client."""
        with tempfile.TemporaryFile() as drops:
            drops.write(cleanup.encode("utf-8"))
            drops.seek(0)
            try:
                self._feed(argv, drops)
            except process.ProcessError as exc:
                raise BackupError(
                    f"Could not empty MySQL database '{self.database_name}' before "
                    f"restoring {path} (nothing was loaded from it): {exc}"
                ) from exc

    def load(
        self, path: Path, progress: Progress | None, options: RestoreOptions
    ) -> None:
        """Empty the database, then load the dump with the client; with
        ``options.scope``, drop the scope's tables only, load, check references.

        The file is verified and the client looked up first, so a truncated
        backup or a missing client fails before anything is dropped. The
        drop runs through the same client and option file as the load: if the
        client cannot connect, nothing has been dropped. Django's connection
        is closed before the client runs, so no metadata lock it may hold
        blocks the DROPs. The client stops at the first SQL error
        (``--binary-mode`` keeps NUL bytes and ``\\r\\n`` in data as they are).
        """
        self.verify(path)
        binary = self.client_command
        self._require(binary, CLIENTS, "client (for restores)")
        name = self.database_name
        scope = options.scope
        cleanup = (
            cleanup_sql(self.connection, name)
            if scope is None
            else scoped_cleanup_sql(self.connection, name, scope)
        )
        self.connection.close()
        flavor = self.flavor(binary)
        with self.defaults_file(flavor) as defaults:
            argv = self._client_argv(binary, flavor, defaults)
            self._empty(argv, cleanup, path)
            try:
                with open(path, "rb", buffering=0) as source:
                    self._feed(argv, source, progress)
            except OSError as exc:
                raise BackupError(f"Cannot read backup {path}: {exc.strerror}") from exc
            except process.ProcessError as exc:
                raise BackupError(
                    f"Restoring MySQL database '{name}' from {path} failed; the "
                    f"database holds only part of the backup: {without_data(exc)}"
                ) from exc
        if scope is not None:  # loaded with foreign key checks off
            mysql_scope.check_references(self.connection, scope.present, name)
