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

import contextlib
import mmap
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: the rows of one INSERT: parenthesised lists of quoted strings (with their
#: escapes) and bare words (numbers, NULL, 0x hex), separated by commas (and
#: newlines), ended by a semicolon; possessive, so a bad file fails fast
_ROWS = re.compile(
    rb"(?:\((?:[^'()\\\n]++|'(?:[^'\\\n]++|\\.)*+')*+\),\n?)*+"
    rb"\((?:[^'()\\\n]++|'(?:[^'\\\n]++|\\.)*+')*+\);"
)
_STRING = re.compile(rb"'(?:[^'\\]++|\\.)*+'")
_INSERT = re.compile(rb"INSERT INTO `((?:[^`\n]|``)+)` VALUES ?")
_CREATE = re.compile(rb"CREATE TABLE `((?:[^`\n]|``)+)` \(")


class DumpError(ValueError):
    """The file does not parse as a dump; the message has no data in it."""


def count_rows(values: bytes) -> int:
    """The rows of an INSERT's ``VALUES`` part (as dumped: see the module).

    MariaDB 10.11.8 and later put each row on a line of its own: the rows
    are the lines. Older dumps put them all on one: the strings are taken
    out, and the parentheses left open the rows.
    """
    if b"\n(" in values:
        return values.count(b"\n(") + (0 if values.startswith(b"\n") else 1)
    return _STRING.sub(b"", values).count(b"(")


def read_rows(path: Path, *, parse: bool = True) -> dict[str, int]:
    """Rows per table in the dump at ``path`` (every table, 0 for empty ones).

    ``parse``: every INSERT is parsed down to its rows (strings with their
    escapes, bare words), and every line starting with INSERT must be one;
    DumpError (with the table) otherwise, or when the file ends inside one.
    Without it (right after the dump wrote the file) the rows are only
    counted. Values never hold a raw newline (the dump escapes it), so a
    statement ends at the first ``;`` before a newline.
    """
    rows: dict[str, int] = {}
    with open(path, "rb") as handle, _mapped(handle) as data:
        for start in _line_starts(data, b"CREATE TABLE `"):
            created = _CREATE.match(data, start)
            if created:
                rows.setdefault(_name(created.group(1)), 0)
        for start in _line_starts(data, b"INSERT"):
            insert = _INSERT.match(data, start)
            if insert is None:
                if parse:
                    raise DumpError(
                        "a statement is not well-formed (a line starts with "
                        "INSERT but is not an INSERT INTO ... VALUES)"
                    )
                continue
            table = _name(insert.group(1))
            end = data.find(b";\n", insert.end())
            if end < 0:  # a dump goes on after its last statement
                raise DumpError(f"the file ends inside the INSERT into table `{table}`")
            values = data[insert.end() : end + 1]
            if parse and _ROWS.fullmatch(values.strip(b"\r\n")) is None:
                raise DumpError(
                    f"a row is not well-formed in an INSERT into table `{table}`"
                )
            rows[table] = rows.get(table, 0) + count_rows(values)
    return rows


def _line_starts(data: bytes, prefix: bytes) -> Iterator[int]:
    """The offsets of the lines of ``data`` that start with ``prefix``."""
    if data[: len(prefix)] == prefix:
        yield 0
    needle = b"\n" + prefix
    position = data.find(needle)
    while position >= 0:
        yield position + 1
        position = data.find(needle, position + 1)


@contextlib.contextmanager
def _mapped(handle: IO[bytes]) -> Iterator[bytes]:
    """The whole file as bytes, mapped (an empty file is just b"")."""
    if os.fstat(handle.fileno()).st_size == 0:
        yield b""
        return
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        yield mapped  # type: ignore[misc]


def _name(quoted: bytes) -> str:
    return quoted.replace(b"``", b"`").decode("utf-8", "replace")
