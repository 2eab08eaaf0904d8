"""The backend the lock-aware gates are for: vendor and server version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError


@dataclass(frozen=True)
class Server:
    """The backend the gates are for: vendor and, when known, server version."""

    vendor: str
    version: tuple[int, ...] | None = None
    mariadb: bool = False

    @property
    def name(self) -> str:
        if self.vendor == "postgresql":
            return "PostgreSQL"
        if self.vendor == "mysql":
            return "MariaDB" if self.mariadb else "MySQL"
        if self.vendor == "sqlite":
            return "SQLite"
        return self.vendor

    def describe(self) -> str:
        if self.version is None:
            return f"{self.name}, version unknown"
        return f"{self.name} {'.'.join(str(part) for part in self.version)}"

    def at_least(self, *version: int) -> bool:
        """Whether the server is ``version`` or newer (unknown: assume it is)."""
        return self.version is None or self.version >= version


def server_of(connection: Any) -> Server:
    """The vendor and version of ``connection``; the version is None offline."""
    vendor = connection.vendor
    try:
        if vendor == "postgresql":
            number = int(connection.pg_version)
            return Server(vendor, (number // 10000, number % 10000))
        if vendor == "mysql":
            return Server(
                vendor,
                tuple(connection.mysql_version),
                bool(connection.mysql_is_mariadb),
            )
        if vendor == "sqlite":
            return Server(vendor, tuple(connection.Database.sqlite_version_info))
    except DatabaseError:
        pass
    except Exception as exc:  # drivers wrap connection errors their own way
        if "connect" not in str(exc).lower():
            raise
    return Server(vendor)
