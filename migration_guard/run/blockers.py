"""Naming the sessions that hold the lock a migration timed out waiting for.

- PostgreSQL knows a session's blockers only while it waits
  (``pg_blocking_pids``): :class:`Watcher` polls them from a second
  connection during an attempt.
- MariaDB/MySQL: read from a second connection at the moment of the timeout
  (:func:`read_blockers`): the metadata-lock holders with MariaDB's
  ``METADATA_LOCK_INFO`` plugin, otherwise the sessions with an open InnoDB
  transaction (the candidates, not proof).
- SQLite locks the whole file and cannot name a holder.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass
class Blockers:
    """The sessions that held the lock, as seen from a second connection."""

    sessions: list[str] = field(default_factory=list)
    source: str = ""

    def describe(self) -> str:
        if not self.sessions:
            return f"No blocking session was seen ({self.source})."
        lines = "\n  ".join(self.sessions)
        return f"Blocking sessions ({self.source}):\n  {lines}"


_PG_BLOCKERS = """
SELECT a.pid, a.application_name, a.usename, a.state,
       EXTRACT(EPOCH FROM (clock_timestamp() - a.xact_start)), a.query
FROM pg_stat_activity a
WHERE a.pid = ANY(pg_blocking_pids(%s))
ORDER BY a.xact_start
"""


def _pg_describe(row: tuple[Any, ...]) -> str:
    pid, app, user, state, age, query = row
    age_text = f"{float(age):.1f}s" if age is not None else "?"
    return (
        f"pid {pid} (application_name {app or '-'!r}, user {user}, {state}, "
        f"transaction open for {age_text}): last query {short(query)!r}"
    )


def short(text: Any, limit: int = 200) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


#: MariaDB's plugin that shows metadata locks (tests name one that is absent)
MDL_PLUGIN = "METADATA_LOCK_INFO"


def mdl_plugin_active(cursor: Any) -> bool:
    """Whether MariaDB's ``METADATA_LOCK_INFO`` plugin is installed and active."""
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.PLUGINS "
        "WHERE PLUGIN_NAME = %s AND PLUGIN_STATUS = 'ACTIVE'",
        [MDL_PLUGIN],
    )
    return bool(cursor.fetchone()[0])


_MDL_HOLDERS = """
SELECT m.THREAD_ID, m.LOCK_MODE, m.TABLE_SCHEMA, m.TABLE_NAME, p.USER, p.HOST,
       p.COMMAND, p.TIME, p.INFO
FROM information_schema.METADATA_LOCK_INFO m
JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
WHERE m.THREAD_ID <> %s AND m.TABLE_SCHEMA = DATABASE()
ORDER BY m.THREAD_ID
"""
_TRX_HOLDERS = """
SELECT t.trx_mysql_thread_id, p.USER, p.HOST, p.COMMAND, p.STATE,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), t.trx_query, p.INFO
FROM information_schema.INNODB_TRX t
JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE t.trx_mysql_thread_id <> %s
ORDER BY t.trx_started
"""


def mysql_blockers(connection: BaseDatabaseWrapper, thread_id: int) -> Blockers:
    """MariaDB/MySQL: who holds the metadata locks, read on ``connection``.

    ``information_schema.METADATA_LOCK_INFO`` (MariaDB's plugin) names the
    holders exactly; without it, the sessions with an open InnoDB
    transaction are the candidates, and the message says so.
    """
    with connection.cursor() as cursor:
        if mdl_plugin_active(cursor):
            cursor.execute(_MDL_HOLDERS, [thread_id])
            sessions = [
                f"thread {tid} ({user}@{host}, {command} for {secs}s) holds "
                f"{mode} on {schema}.{table}: {short(info) or 'idle'}"
                for tid, mode, schema, table, user, host, command, secs, info in (
                    cursor.fetchall()
                )
            ]
            return Blockers(sessions, "metadata-lock holders, METADATA_LOCK_INFO")
        cursor.execute(_TRX_HOLDERS, [thread_id])
        sessions = [
            f"thread {tid} ({user}@{host}, {command}, {state or 'no state'}, "
            f"transaction open for {age}s): "
            f"{short(trx_query or info) or 'idle in transaction'}"
            for tid, user, host, command, state, age, trx_query, info in (
                cursor.fetchall()
            )
        ]
    return Blockers(
        sessions,
        "METADATA_LOCK_INFO plugin not installed: sessions with an open "
        "transaction, from INNODB_TRX and PROCESSLIST, which may hold the "
        "metadata lock",
    )


class Watcher:
    """Samples who blocks the migrating session while an attempt runs.

    PostgreSQL only knows the blockers of a session while it waits
    (``pg_blocking_pids``), so a thread polls from a second connection,
    opened only once the attempt has run for a while (most migrations end
    first and never open it), and keeps the last non-empty answer.
    """

    def __init__(self, alias: str, pid: int, timeout: float) -> None:
        self.alias = alias
        self.pid = pid
        self.delay = timeout * 0.25
        self.interval = max(0.02, min(0.5, timeout / 10))
        self.blockers = Blockers(source="pg_blocking_pids")
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="migration-guard-lock-watcher", daemon=True
        )

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        if self._done.wait(self.delay):
            return
        connection = connections.create_connection(self.alias)
        try:
            with connection.cursor() as cursor:
                while True:
                    cursor.execute(_PG_BLOCKERS, [self.pid])
                    rows = cursor.fetchall()
                    if rows:
                        self.blockers.sessions = [_pg_describe(row) for row in rows]
                    if self._done.wait(self.interval):
                        return
        except DatabaseError as exc:  # naming blockers must never fail the run
            self.blockers.source = f"pg_blocking_pids, not read: {exc}"
        finally:
            connection.close()


def session_id(connection: BaseDatabaseWrapper) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
        else:
            cursor.execute("SELECT CONNECTION_ID()")
        return int(cursor.fetchone()[0])


def read_blockers(alias: str, thread_id: int) -> Blockers:
    connection = connections.create_connection(alias)
    try:
        return mysql_blockers(connection, thread_id)
    except DatabaseError as exc:
        return Blockers(source=f"information_schema not readable: {exc}")
    finally:
        connection.close()
