"""Reading a ``mariadb-dump``/``mysqldump`` file in full, as the client will.

Every ``INSERT`` statement is parsed down to its row tuples (strings with
their escapes, numbers, ``NULL``, ``0x`` hex), so a file whose bytes were
changed with its checksum fails before the database is emptied, and the
rows of each table are counted from the dump itself (no query of the
database). The dumps write one ``INSERT ... VALUES`` per batch of rows,
either on one line or (MariaDB 10.11.8 and later) one row per line; values
never hold a raw newline (the dump escapes it).

Messages name the line and the table, never the data: a backup's rows must
not end up in logs.
"""

from __future__ import annotations

import re
from pathlib import Path

#: one row: a parenthesised list of quoted strings and bare words, then , or ;
_ITEM = re.compile(rb"\((?:'(?:[^'\\]|\\.)*'|[^'()\\])*\)[,;]")
_INSERT = re.compile(rb"INSERT INTO `((?:[^`]|``)+)` VALUES ?")
_CREATE = re.compile(rb"CREATE TABLE `((?:[^`]|``)+)` \(")


class DumpError(ValueError):
    """The file does not parse as a dump; the message has no data in it."""


def _rows_on(line: bytes, start: int) -> int:
    """The rows of ``line[start:]`` (a list of tuples); DumpError otherwise."""
    position, count = start, 0
    for match in _ITEM.finditer(line, start):
        if match.start() != position:
            raise DumpError("a row is not well-formed")
        position = match.end()
        count += 1
    if position != len(line):
        raise DumpError("a row is not well-formed")
    return count


def read_rows(path: Path) -> dict[str, int]:
    """Rows per table in the dump at ``path`` (every table, 0 for empty ones).

    Raises DumpError (with the line number and table) when a statement that
    carries rows does not parse, or the file ends inside one.
    """
    rows: dict[str, int] = {}
    table: str | None = None
    number = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip(b"\r\n")
            start = 0
            if table is None:
                created = _CREATE.match(line)
                if created:
                    rows.setdefault(_name(created.group(1)), 0)
                    continue
                insert = _INSERT.match(line)
                if insert is None:
                    if line.startswith((b"INSERT", b"(")):
                        raise DumpError(
                            f"line {number}: a statement that is not well-formed "
                            "(rows outside an INSERT INTO ... VALUES)"
                        )
                    continue
                table = _name(insert.group(1))
                rows.setdefault(table, 0)
                start = insert.end()
                if start == len(line):  # the rows follow, one per line
                    continue
            try:
                rows[table] += _rows_on(line, start)
            except DumpError as exc:
                raise DumpError(
                    f"line {number}: {exc} in the INSERT into table `{table}`"
                ) from None
            if line.endswith(b";"):
                table = None
    if table is not None:
        raise DumpError(f"the file ends inside the INSERT into table `{table}`")
    return rows


def _name(quoted: bytes) -> str:
    return quoted.replace(b"``", b"`").decode("utf-8", "replace")
