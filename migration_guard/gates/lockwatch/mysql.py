"""MariaDB/MySQL: metadata locks of the migrating thread, InnoDB table ids.

With MariaDB's ``metadata_lock_info`` plugin (``INSTALL SONAME
'metadata_lock_info'``), the observer samples the table metadata locks the
migrating thread holds, with their mode (``MDL_SHARED_NO_WRITE`` and
stronger block writes). Without it, it samples the thread's statement in
``information_schema.PROCESSLIST``: while a DDL statement runs on a table,
that table counts as locked in mode ``DDL``, and as blocking writes (an upper
bound: an INPLACE ``ALTER TABLE`` lets writes through for most of its time).

A table rebuilt (ALGORITHM=COPY, or an INPLACE rebuild) gets a new InnoDB
table id (``INNODB_SYS_TABLES``, ``INNODB_TABLES`` on MySQL): rewritten.
"""

from __future__ import annotations

import re
from typing import Any

from migration_guard.gates.lockwatch.base import Held, LockWatch
from migration_guard.run.blockers import mdl_plugin_active

#: MariaDB's metadata lock modes on a table, weakest first
MODES = (
    "MDL_SHARED",
    "MDL_SHARED_HIGH_PRIO",
    "MDL_SHARED_READ",
    "MDL_SHARED_WRITE",
    "MDL_SHARED_UPGRADABLE",
    "MDL_SHARED_READ_ONLY",
    "MDL_SHARED_NO_WRITE",
    "MDL_SHARED_NO_READ_WRITE",
    "MDL_EXCLUSIVE",
)
BLOCKING = frozenset(MODES[MODES.index("MDL_SHARED_READ_ONLY") :])
#: the mode of a table while a DDL statement on it runs (no plugin)
DDL = "DDL"

LOCKS_SQL = """
SELECT TABLE_NAME, LOCK_MODE FROM information_schema.METADATA_LOCK_INFO
WHERE THREAD_ID = %s AND LOCK_TYPE = 'Table metadata lock' AND TABLE_SCHEMA = %s
"""
STATEMENT_SQL = "SELECT INFO FROM information_schema.PROCESSLIST WHERE ID = %s"
FILES_SQL = {
    "mariadb": "SELECT NAME, TABLE_ID FROM information_schema.INNODB_SYS_TABLES "
    "WHERE NAME LIKE %s",
    "mysql": "SELECT NAME, TABLE_ID FROM information_schema.INNODB_TABLES "
    "WHERE NAME LIKE %s",
}

_NAME = r"[`\"]?(?:\w+[`\"]?\.[`\"]?)?(?P<table>\w+)[`\"]?"
#: what comes before the table's name in a DDL statement that locks it
_BEFORE_TABLE = (
    r"alter\s+(?:online\s+|ignore\s+)*table\s+(?:if\s+exists\s+)?",
    r"(?:create|drop)\s+(?:online\s+|unique\s+|fulltext\s+|spatial\s+)*index\s+"
    r"(?:if\s+(?:not\s+)?exists\s+)?[`\"]?\w+[`\"]?\s+on\s+",
    r"(?:optimize|truncate)\s+table\s+",
)
_DDL = [re.compile(rf"^\s*{before}{_NAME}", re.IGNORECASE) for before in _BEFORE_TABLE]


def ddl_table(statement: str | None) -> str | None:
    """The table a DDL statement that holds its table's metadata lock works on."""
    for pattern in _DDL:
        match = pattern.match(statement or "")
        if match:
            return match.group("table")
    return None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


class MysqlLockWatch(LockWatch):
    method = "METADATA_LOCK_INFO sampled from a second connection"

    def __enter__(self) -> LockWatch:
        with self.connection.cursor() as cursor:
            self.plugin = mdl_plugin_active(cursor)
        if not self.plugin:
            self.method = (
                "METADATA_LOCK_INFO plugin not installed: DDL statements in "
                "PROCESSLIST sampled from a second connection"
            )
            self.caveat = (
                "METADATA_LOCK_INFO plugin not installed: each DDL statement "
                "counts as blocking writes to its table while it runs"
            )
        self.schema = str(self.connection.settings_dict["NAME"])
        return super().__enter__()

    def session_id(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            return int(cursor.fetchone()[0])

    def files(self) -> dict[str, Any]:
        flavour = "mariadb" if self.connection.mysql_is_mariadb else "mysql"
        with self.connection.cursor() as cursor:
            cursor.execute(FILES_SQL[flavour], [_escape_like(self.schema) + "/%"])
            return {
                str(name).split("/", 1)[1]: int(table_id)
                for name, table_id in cursor.fetchall()
            }

    def held(self, cursor: Any) -> Held:
        if self.plugin:
            cursor.execute(LOCKS_SQL, [self.session, self.schema])
            return [(str(table), str(mode)) for table, mode in cursor.fetchall()]
        cursor.execute(STATEMENT_SQL, [self.session])
        row = cursor.fetchone()
        table = ddl_table(row[0] if row else None)
        return [] if table is None else [(table, DDL)]

    def rank(self, mode: str) -> int:
        if mode == DDL:
            return len(MODES)
        return MODES.index(mode) if mode in MODES else -1

    def blocking(self, mode: str) -> bool:
        return mode == DDL or mode in BLOCKING
