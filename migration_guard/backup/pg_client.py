"""How the PostgreSQL clients (``pg_dump``, ``pg_restore``) connect, and
whether they fit the server.

Connection parameters are those of Django's own connection
(``DatabaseWrapper.get_connection_params``): NAME, USER, PASSWORD, HOST, PORT,
with ``OPTIONS`` filling in what the top-level settings leave empty. As in
Django's ``dbshell`` (``DatabaseClient.settings_to_cmd_args_env``), user, host
and port become arguments and the libpq options (``sslmode``, ``service``,
``passfile``...) the matching ``PG*`` environment variables; the database name
is passed as a ``dbname='...'`` connection string so that a name containing
``=`` or starting with ``-`` is never parsed as something else.

The password never reaches argv (``ps`` shows it to every local user) nor an
error message: it goes into a libpq password file of mode 0600 that exists
only while the client runs, and is redacted from the client's stderr.
"""

from __future__ import annotations

import contextlib
import glob
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError

from migration_guard.backup import process
from migration_guard.backup.base import BackupBackend, BackupError
from migration_guard.conf import migration_guard_settings as conf

#: Where Debian/Ubuntu's postgresql-client-N packages install pg_dump.
INSTALLED_CLIENTS = "/usr/lib/postgresql/*/bin/pg_dump"

#: libpq connection keywords that have an environment variable. ``OPTIONS``
#: with these names reach the clients as in ``dbshell`` (an older libpq
#: ignores an unknown variable, where it would reject an unknown keyword).
#: ``client_encoding`` is left out on purpose: pg_dump must dump in the
#: database's encoding, not in the UTF8 Django's connection asks for.
LIBPQ_ENV = {
    "hostaddr": "PGHOSTADDR",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "servicefile": "PGSERVICEFILE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "channel_binding": "PGCHANNELBINDING",
    "require_auth": "PGREQUIREAUTH",
    "gssencmode": "PGGSSENCMODE",
    "gsslib": "PGGSSLIB",
    "krbsrvname": "PGKRBSRVNAME",
    "requirepeer": "PGREQUIREPEER",
    "requiressl": "PGREQUIRESSL",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslcertmode": "PGSSLCERTMODE",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
}
#: libpq keywords without an environment variable: in the connection string.
LIBPQ_CONNINFO = (
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
)

_client_versions: dict[tuple[str, ...], str] = {}
_versions_lock = threading.Lock()

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)")


def conninfo_value(value: str) -> str:
    """``value`` single-quoted for a libpq connection string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def passfile_field(value: str) -> str:
    """``value`` escaped for a field of a libpq password file (``:`` and ``\\``)."""
    if "\n" in value or "\r" in value:
        raise BackupError(
            "The PostgreSQL password contains a line break: it cannot be "
            "passed to pg_dump/pg_restore through a password file."
        )
    return value.replace("\\", "\\\\").replace(":", "\\:")


def parse_version(text: str) -> str:
    """``"15.20"`` from ``pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)``."""
    match = _VERSION.search(text)
    if match is None:
        raise BackupError(f"Cannot read a PostgreSQL version from {text.strip()!r}.")
    return match.group(1)


def major(version: str) -> tuple[int, ...]:
    """The major version: ``(15,)`` for 15.20, ``(9, 6)`` for 9.6.24."""
    parts = tuple(int(part) for part in version.split("."))
    return parts[:2] if parts[0] < 10 else parts[:1]


def server_version_string(number: int) -> str:
    """``"15.20"`` from ``server_version_num`` 150020 (``"9.6.24"`` from 90624)."""
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def detail(exc: process.ProcessError) -> str:
    """The client's (redacted) stderr, without the "X exited with..." prefix."""
    return exc.stderr or str(exc)


@dataclass(frozen=True)
class ClientCall:
    """How to connect one client run: arguments, environment, secrets."""

    args: list[str]
    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)


class PostgreSQLClients(BackupBackend):
    """Connection parameters, client versions and problems of a PostgreSQL backend."""

    # -- connection parameters -------------------------------------------

    def libpq_params(self) -> dict[str, str]:
        """Django's connection parameters, as libpq keywords (strings).

        Same precedence as ``DatabaseWrapper.get_connection_params``: NAME
        (or ``postgres`` when it is None, or ``OPTIONS["service"]``'s database
        when it is empty), ``OPTIONS`` over it, then USER/PASSWORD/HOST/PORT
        over ``OPTIONS`` when they are set.
        """
        settings = self.settings_dict
        options: Mapping[str, Any] = settings.get("OPTIONS") or {}
        name = settings.get("NAME")
        params: dict[str, Any] = {}
        if name:
            params = {"dbname": name, **options}
        elif name is None:
            params = {"dbname": "postgres", **options}
            params.pop("service", None)
        else:
            params = {**options}
        for key, setting in (
            ("user", "USER"),
            ("password", "PASSWORD"),
            ("host", "HOST"),
            ("port", "PORT"),
        ):
            if settings.get(setting):
                params[key] = settings[setting]
        result: dict[str, str] = {}
        for key, value in params.items():
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = int(value)
            result[key] = str(value)
        return result

    @property
    def database_name(self) -> str:
        params = self.libpq_params()
        return params.get("dbname") or f"service {params.get('service', '')}"

    def server_args(self) -> list[str]:
        """``--host``/``--port``: they also steer Debian's pg_wrapper."""
        params = self.libpq_params()
        args = []
        if params.get("host"):
            args.append(f"--host={params['host']}")
        if params.get("port"):
            args.append(f"--port={params['port']}")
        return args

    @contextlib.contextmanager
    def client_call(self) -> Iterator[ClientCall]:
        """Arguments and environment to connect a client, with the password file.

        ``--no-password``: a missing or wrong password fails at once instead
        of prompting on a terminal nobody watches. The password file uses
        wildcards for host, port and database (the connection is fully
        specified anyway; a HOST list or a socket directory then matches
        too). ``PGPASSWORD`` is emptied because libpq prefers it to the file.
        """
        params = self.libpq_params()
        args = ["--no-password"]
        if params.get("user"):
            args.append(f"--username={params['user']}")
        args += self.server_args()
        role = (self.settings_dict.get("OPTIONS") or {}).get("assume_role")
        if role:
            args.append(f"--role={role}")
        conninfo = [
            f"{key}={conninfo_value(params[key])}"
            for key in ("dbname", *LIBPQ_CONNINFO)
            if params.get(key)
        ]
        if not params.get("dbname") and params.get("service"):
            conninfo.insert(0, f"service={conninfo_value(params['service'])}")
        if not conninfo or not conninfo[0].startswith(("dbname=", "service=")):
            # without --dbname, pg_restore would print SQL instead of restoring
            raise BackupError(
                "The database has neither NAME nor OPTIONS['service']: nothing "
                "to back up or restore."
            )
        args.append("--dbname=" + " ".join(conninfo))
        env = {var: params[key] for key, var in LIBPQ_ENV.items() if key in params}
        password = params.get("password", "")
        if not password:
            yield ClientCall(args, env)
            return
        user = passfile_field(params.get("user", "")) or "*"
        secret = passfile_field(password)
        with process.secret_file(f"*:*:*:{user}:{secret}\n", suffix=".pgpass") as pw:
            env.update(PGPASSFILE=str(pw), PGPASSWORD="")
            yield ClientCall(args, env, [password, secret])

    # -- versions and problems -------------------------------------------

    def client_version(self, binary: str) -> str:
        """``binary --version``, run once per binary and server per process.

        The host and port are passed along: ``--version`` must be the first
        argument, so the client ignores them, but Debian's pg_wrapper picks
        the client version from them (the newest one for a remote host).
        """
        key = (process.which(binary) or binary, *self.server_args())
        with _versions_lock:
            if key not in _client_versions:
                text = process.output([key[0], "--version", *key[1:]])
                _client_versions[key] = parse_version(text)
            return _client_versions[key]

    def server_version(self) -> str:
        return server_version_string(int(self.connection.pg_version))  # type: ignore[attr-defined]

    def versions(self) -> dict[str, str]:
        return {
            "server": self.server_version(),
            "client": self.client_version(self.command("pg_dump")),
        }

    def _missing(self, tool: str, binary: str) -> str:
        override = (conf.DUMP_COMMANDS or {}).get(self.vendor)
        if not override:
            return (
                f"{tool} is not installed or not on PATH: install the PostgreSQL "
                "client programs of the server's version (Debian/Ubuntu: "
                "postgresql-client-N), or name pg_dump in "
                "MIGRATION_GUARD['DUMP_COMMANDS']['postgresql']"
            )
        origin = (
            "MIGRATION_GUARD['DUMP_COMMANDS']['postgresql']"
            if tool == "pg_dump"
            else "the directory of MIGRATION_GUARD['DUMP_COMMANDS']['postgresql']"
        )
        return f"{tool} not found or not executable at {binary} (from {origin})"

    def _suggestion(self, server: str) -> str:
        """The ``DUMP_COMMANDS`` setting to use with a server of version ``server``.

        An installed client of the server's major version is best (a newer
        pg_dump can write SQL an older server does not accept); else the
        oldest newer one; else the path postgresql-client-N would install.
        """
        wanted = major(server)
        found: list[tuple[tuple[int, ...], str]] = []
        for path in glob.glob(INSTALLED_CLIENTS):
            version = Path(path).parent.parent.name
            with contextlib.suppress(ValueError):
                if major(version) >= wanted and process.which(path):
                    found.append((major(version), path))
        label = ".".join(str(part) for part in wanted)
        if found:
            path = min(found)[1]
            return (
                f"set MIGRATION_GUARD['DUMP_COMMANDS'] = {{'postgresql': '{path}'}} "
                "(installed here)"
            )
        path = INSTALLED_CLIENTS.replace("*", label)
        return (
            f"install postgresql-client-{label} and set "
            f"MIGRATION_GUARD['DUMP_COMMANDS'] = {{'postgresql': '{path}'}}"
        )

    def problems(self) -> list[str]:
        """Missing clients, an unreachable server, clients too old.

        pg_dump refuses to dump a server of a newer major version, so the
        rule is checked here, before a deploy starts, with the fix in the
        message; pg_restore must be able to read what pg_dump writes.
        """
        pg_dump, pg_restore = self.command("pg_dump"), self.command("pg_restore")
        missing = self.missing_tools()
        problems = [
            self._missing(tool, binary)
            for tool, binary in (("pg_dump", pg_dump), ("pg_restore", pg_restore))
            if binary in missing
        ]
        if problems:
            return problems
        try:
            server = self.server_version()
        except DatabaseError as exc:
            return [
                f"Cannot read the version of the PostgreSQL server of database "
                f"{self.database_name!r}: {str(exc).strip()}"
            ]
        try:
            dump_version = self.client_version(pg_dump)
            restore_version = self.client_version(pg_restore)
        except (process.ProcessError, BackupError) as exc:
            return [f"Cannot read the version of the PostgreSQL clients: {exc}"]
        if major(dump_version) < major(server):
            label = ".".join(str(part) for part in major(server))
            problems.append(
                f"pg_dump {dump_version} ({pg_dump}) is older than the PostgreSQL "
                f"{label} server: {self._suggestion(server)}"
            )
        elif major(restore_version) < major(dump_version):
            problems.append(
                f"pg_restore {restore_version} ({pg_restore}) is older than "
                f"pg_dump {dump_version} ({pg_dump}): it cannot read the archives "
                "pg_dump writes; use the pg_restore of the same installation"
            )
        return problems
