"""Which database a backup belongs to.

Several databases may share one backup store (the default ``BACKUP_DIR`` is
the same whatever ``NAME`` an alias points at), and one alias may point at
another database tomorrow. A manifest records the identity of the database
it was taken from; listing, retention, the rollback strategy and restores act
on the backups of the database the alias points at now.

The identity: vendor, host, port, database name (for SQLite the resolved
file path), and the server's own identifier where it has one (PostgreSQL's
``system_identifier`` from ``pg_control_system()``, MariaDB's ``server_uid``
or MySQL's ``server_uuid``). Two identities are the same database when
vendor and name agree and, if both know the server identifier, it agrees
(so ``localhost`` and ``127.0.0.1`` are one server); without one, host and
port must agree.

Manifests written before identities were recorded match by alias, vendor and
database name only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections, transaction

if TYPE_CHECKING:
    from migration_guard.backup.storage import Manifest

Identity = dict[str, str]

#: server variables holding a server's identifier, in order of preference
MYSQL_SERVER_IDS = ("server_uuid", "server_uid")


def _server_id(alias: str) -> str:
    connection = connections[alias]
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT system_identifier FROM pg_control_system()")
                row = cursor.fetchone()
                return str(row[0]) if row else ""
            if connection.vendor == "mysql":
                cursor.execute(
                    "SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s, %s)",
                    list(MYSQL_SERVER_IDS),
                )
                found = {str(name): str(value) for name, value in cursor.fetchall()}
                for variable in MYSQL_SERVER_IDS:
                    if found.get(variable):
                        return f"{variable}:{found[variable]}"
    except DatabaseError:  # no privilege: host and port identify the server
        return ""
    return ""


def database_identity(alias: str) -> Identity:
    """The identity of the database ``alias`` points at now (one query)."""
    connection = connections[alias]
    settings = connection.settings_dict
    name = str(settings.get("NAME") or "")
    if connection.vendor == "sqlite":
        if name and name != ":memory:" and not name.startswith("file:"):
            name = os.path.realpath(name)
        return {"vendor": "sqlite", "name": name}
    return {
        "vendor": connection.vendor,
        "host": str(settings.get("HOST") or ""),
        "port": str(settings.get("PORT") or ""),
        "name": name,
        "server_id": _server_id(alias),
    }


def same_database(recorded: Identity, current: Identity) -> bool:
    """Whether two recorded identities are the same database."""
    if recorded.get("vendor") != current.get("vendor"):
        return False
    if recorded.get("name", "") != current.get("name", ""):
        return False
    if recorded.get("server_id") and current.get("server_id"):
        return recorded["server_id"] == current["server_id"]
    return (recorded.get("host", ""), recorded.get("port", "")) == (
        current.get("host", ""),
        current.get("port", ""),
    )


def belongs_to(manifest: Manifest, alias: str, current: Identity) -> bool:
    """Whether ``manifest`` is a backup of the database ``current`` of ``alias``.

    A manifest without an identity (written by an older guardedmigrate) belongs
    to the database when alias, vendor and database name match.
    """
    if manifest.identity:
        return same_database(manifest.identity, current)
    name = str(connections[alias].settings_dict.get("NAME") or "")
    return (
        manifest.alias == alias
        and manifest.vendor == current.get("vendor")
        and manifest.database == name
    )


def describe(identity: Identity, fallback: str = "") -> str:
    """``postgresql 127.0.0.1:5432/shop`` or ``sqlite /srv/db.sqlite3``."""
    if not identity:
        return fallback
    if identity.get("vendor") == "sqlite":
        return f"sqlite {identity.get('name', '')}"
    where = identity.get("host") or "local"
    if identity.get("port"):
        where += f":{identity['port']}"
    return f"{identity.get('vendor', '')} {where}/{identity.get('name', '')}"
