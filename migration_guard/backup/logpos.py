"""Where the database's own log stood just before a run or a backup.

An operator who keeps the server's log (PostgreSQL WAL archiving, MariaDB
binary logs) can recover the database to that point, the moment before the
deploy, instead of to the last backup. Recorded in every ledger run and
backup manifest, shown by ``migrationhistory --run`` and ``rollbackplan``:

* PostgreSQL: ``pg_current_wal_lsn()``, its WAL file and the server's clock
  (on a standby, ``pg_last_wal_replay_lsn()``); a recovery target is
  ``recovery_target_lsn``.
* MariaDB/MySQL: the binary log file, position and GTID (``SHOW MASTER
  STATUS``, ``@@gtid_binlog_pos`` or ``@@gtid_executed``) and the clock, when
  binary logging is on; when it is off, that is what is recorded.
* SQLite: there is no log to replay; nothing but that is recorded.

Reading it never fails a run: an error is recorded as the position's note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections, transaction

Position = dict[str, str]

PG_SQL = """
SELECT pg_catalog.pg_is_in_recovery(),
       to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
"""
PG_PRIMARY_SQL = """
SELECT lsn::text, pg_catalog.pg_walfile_name(lsn)
FROM (SELECT pg_catalog.pg_current_wal_lsn() AS lsn) AS current
"""
MYSQL_CLOCK_SQL = "SELECT @@GLOBAL.log_bin, DATE_FORMAT(UTC_TIMESTAMP(6), %s)"
MYSQL_ISO = "%Y-%m-%dT%H:%i:%s.%fZ"
SQLITE_NOTE = "SQLite keeps no log to replay: nothing to record"


def _postgresql(cursor: Any) -> Position:
    cursor.execute(PG_SQL)
    in_recovery, at = cursor.fetchone()
    if in_recovery:
        cursor.execute("SELECT pg_catalog.pg_last_wal_replay_lsn()::text")
        return {"log": "wal", "lsn": str(cursor.fetchone()[0]), "at": at,
                "note": "a standby: the position replayed"}  # fmt: skip
    cursor.execute(PG_PRIMARY_SQL)
    lsn, wal_file = cursor.fetchone()
    return {"log": "wal", "lsn": lsn, "wal_file": wal_file, "at": at}


def _binlog_status(cursor: Any) -> tuple[str, str]:
    """File and position of the binary log (MySQL 8.4 renamed the statement)."""
    try:
        cursor.execute("SHOW MASTER STATUS")
    except DatabaseError:
        cursor.execute("SHOW BINARY LOG STATUS")
    row = cursor.fetchone()
    if row is None:
        raise DatabaseError("SHOW MASTER STATUS returned no row")
    return str(row[0]), str(row[1])


def _mysql(cursor: Any, mariadb: bool) -> Position:
    cursor.execute(MYSQL_CLOCK_SQL, [MYSQL_ISO])
    log_bin, at = cursor.fetchone()
    if not log_bin:
        return {"log": "binlog", "state": "off", "at": at}
    file, position = _binlog_status(cursor)
    gtid = "@@GLOBAL.gtid_binlog_pos" if mariadb else "@@GLOBAL.gtid_executed"
    cursor.execute(f"SELECT {gtid}")
    return {"log": "binlog", "state": "on", "file": file, "position": position,
            "gtid": str(cursor.fetchone()[0] or ""), "at": at}  # fmt: skip


def read_position(alias: str) -> Position:
    """Where the log of database ``alias`` is now (see the module's text)."""
    connection = connections[alias]
    readers: dict[str, Callable[[Any], Position]] = {
        "postgresql": _postgresql,
        "mysql": lambda cursor: _mysql(
            cursor, bool(getattr(connection, "mysql_is_mariadb", False))
        ),
    }
    reader = readers.get(connection.vendor)
    if reader is None:
        note = SQLITE_NOTE if connection.vendor == "sqlite" else "no log known"
        return {"log": "none", "note": note}
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            return reader(cursor)
    except DatabaseError as exc:
        return {"log": "unknown", "note": f"could not read: {str(exc).strip()}"}


def describe(position: Position | None) -> str:
    """One line for people: where to recover to."""
    if not position:
        return "not recorded"
    at = f" at {position['at']}" if position.get("at") else ""
    note = f" ({position['note']})" if position.get("note") else ""
    kind = position.get("log")
    if kind == "wal":
        wal_file = (
            f", WAL file {position['wal_file']}" if "wal_file" in position else ""
        )
        return f"WAL LSN {position['lsn']}{wal_file}{at}{note}"
    if kind == "binlog" and position.get("state") == "off":
        return f"binary logging off{at}: no binary log to recover from"
    if kind == "binlog":
        gtid = f", GTID {position['gtid']}" if position.get("gtid") else ""
        return f"binlog {position['file']} position {position['position']}{gtid}{at}"
    return position.get("note", "not recorded")


def log_positions(run: Any, backup: Any) -> dict[str, Position | None]:
    """The positions recorded by the ledger ``run`` and the ``backup`` manifest
    (either may be None), as JSON."""
    return {
        "run": (run.log_position or None) if run is not None else None,
        "backup": (backup.log_position or None) if backup is not None else None,
    }


def recovery_points(run: Any, backup: Any) -> list[str]:
    """Lines naming the point-in-time recovery targets of a rollback: the log
    before ``run`` (a ledger row) and before ``backup`` (a manifest)."""
    lines = []
    if run is not None:
        lines.append(
            f"Point-in-time recovery to before run {run.pk}: "
            f"{describe(run.log_position)}"
        )
    if backup is not None:
        lines.append(
            f"Point-in-time recovery to backup {backup.id}: "
            f"{describe(backup.log_position)}"
        )
    return lines
