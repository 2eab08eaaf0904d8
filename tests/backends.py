"""Real database servers for the tests: SQLite files, PostgreSQL, MariaDB/MySQL.

Connection parameters come from the environment with the local defaults:
``PGHOST PGPORT PGUSER PGPASSWORD`` (127.0.0.1, 5432, root, none) and
``MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_PASSWORD`` (127.0.0.1, 3306, root, none).
``MIGRATION_GUARD_TEST_BACKENDS`` picks the backends (default: all three).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

ALL = ("sqlite", "postgresql", "mysql")
_counter = itertools.count()


def selected() -> list[str]:
    names = os.environ.get("MIGRATION_GUARD_TEST_BACKENDS", ",".join(ALL))
    return [name.strip() for name in names.split(",") if name.strip()]


def unique_name(prefix: str = "sm") -> str:
    return f"{prefix}_{os.getpid()}_{next(_counter)}"


@dataclass(frozen=True)
class Server:
    vendor: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""

    def settings(self, name: str) -> dict[str, Any]:
        if self.vendor == "sqlite":
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
        engine = {"postgresql": "postgresql", "mysql": "mysql"}[self.vendor]
        settings: dict[str, Any] = {
            "ENGINE": f"django.db.backends.{engine}",
            "NAME": name,
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
        }
        if self.vendor == "mysql":
            settings["OPTIONS"] = {"charset": "utf8mb4"}
        return settings

    def url(self, name: str) -> str:
        if self.vendor == "sqlite":
            return f"sqlite:///{name}"
        scheme = "postgres" if self.vendor == "postgresql" else "mysql"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{name}"

    # administration through the driver, independent of Django's connections
    def _admin(self) -> Any:
        if self.vendor == "postgresql":
            import psycopg2

            conn = psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname="postgres",
                connect_timeout=5,
            )
            conn.autocommit = True
            return conn
        import MySQLdb

        return MySQLdb.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            connect_timeout=5,
        )

    def execute(self, *statements: str) -> None:
        conn = self._admin()
        try:
            cursor = conn.cursor()
            for statement in statements:
                cursor.execute(statement)
        finally:
            conn.close()

    def create(self, name: str) -> None:
        if self.vendor == "postgresql":
            self.execute(f'CREATE DATABASE "{name}"')
        elif self.vendor == "mysql":
            self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

    def drop(self, name: str) -> None:
        if self.vendor == "postgresql":
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif self.vendor == "mysql":
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")
        else:
            for suffix in ("", "-wal", "-shm", "-journal", ".migration-guard-lock"):
                Path(name + suffix).unlink(missing_ok=True)


@cache
def server(vendor: str) -> Server:
    if vendor == "postgresql":
        return Server(
            vendor,
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=int(os.environ.get("PGPORT", "5432")),
            user=os.environ.get("PGUSER", "root"),
            password=os.environ.get("PGPASSWORD", ""),
        )
    if vendor == "mysql":
        return Server(
            vendor,
            host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
            port=int(os.environ.get("MYSQL_PORT", "3306")),
            user=os.environ.get("MYSQL_USER", "root"),
            password=os.environ.get("MYSQL_PASSWORD", ""),
        )
    if vendor == "sqlite":
        return Server("sqlite")
    raise ValueError(f"unknown backend {vendor!r}; known: {', '.join(ALL)}")


@cache
def unavailable(vendor: str) -> str | None:
    """Why ``vendor``'s server cannot be used, or None when it can."""
    srv = server(vendor)
    if vendor == "sqlite":
        return None
    try:
        srv.execute("SELECT 1")
    except ImportError as exc:
        return f"{vendor}: driver not installed ({exc})"
    except Exception as exc:
        where = f"{srv.host}:{srv.port} as {srv.user}"
        return f"{vendor} server at {where} cannot be reached: {exc}"
    return None
