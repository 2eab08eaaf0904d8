"""Reading pg_dump archives without a server: signature, table of contents,
rows per table.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import IO

from migration_guard.backup import process
from migration_guard.backup.base import BackupError

#: The signature every custom-format archive starts with.
MAGIC = b"PGDMP"
_TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")

_IDENT = rb'(?:"(?:[^"]|"")+"|[^ ."(]+)'
_COPY = re.compile(rb"COPY (" + _IDENT + rb"\." + _IDENT + rb") .*FROM stdin;$")
#: the comment pg_restore writes above the COPY of a table's data
_DATA_HEADER = b"-- Data for Name: "
_DATA_TYPE = b"; Type: TABLE DATA; "


def unquote_qualified(name: str) -> str:
    """A qualified name as pg_dump quotes it, as the catalog spells it.

    Quoted parts lose their quotes and doubled quotes are halved.
    """
    parts = re.findall(r'"((?:[^"]|"")+)"|([^."]+)', name)
    return ".".join(quoted.replace('""', '"') or bare for quoted, bare in parts)


def copy_rows(source: IO[bytes]) -> dict[str, int]:
    """Rows of each ``COPY ... FROM stdin;`` block of a SQL script stream.

    Only a COPY under the ``-- Data for Name: ...; Type: TABLE DATA`` header
    pg_restore writes for each table's data (then ``--`` and a blank line)
    starts data: a string (a comment, a function body) may hold a line that
    reads as a COPY, and the script's lines up to the next ``\\.`` would be
    counted as rows.
    """
    rows: dict[str, int] = {}
    table: str | None = None
    count = 0
    header = False  # under a table data header, nothing else since
    for line in source:
        if table is not None:
            if line == b"\\.\n":
                rows[table] = rows.get(table, 0) + count
                table = None
            else:
                count += 1
            continue
        if line.startswith(_DATA_HEADER) and _DATA_TYPE in line:
            header = True
            continue
        if line in (b"--\n", b"\n"):
            continue
        if header and line.startswith(b"COPY "):
            match = _COPY.match(line.rstrip(b"\n"))
            if match:
                table = unquote_qualified(match.group(1).decode("utf-8", "replace"))
                count = 0
        header = False
    return rows


def check_magic(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(MAGIC))
    except OSError as exc:
        raise BackupError(f"Cannot read backup {path}: {exc.strerror}") from exc
    if head != MAGIC:
        raise BackupError(
            f"{path} is not a pg_dump custom-format archive (it does not "
            f"start with {MAGIC.decode()})."
        )


def archived_objects(toc: str) -> dict[str, set[str]]:
    """``{description: {"schema name", ...}}`` of the object definitions in
    ``pg_restore --list`` output.

    A line reads ``dumpId; tableoid oid DESCRIPTION schema name owner`` with
    nothing quoted, so a name containing spaces is ambiguous: every prefix of
    ``schema name owner`` ending before a space is recorded, and a database
    object is in the archive when its ``schema name`` is one of them. (A
    false match only leaves an extra object in place; entries with tableoid
    0 are data, not definitions, and are skipped.)
    """
    descriptions = sorted(
        {"TABLE", "VIEW", "MATERIALIZED VIEW", "SEQUENCE", "FOREIGN TABLE",
         "FUNCTION", "PROCEDURE", "TYPE", "DOMAIN", "SCHEMA", "EXTENSION"},
        key=len,
        reverse=True,
    )  # fmt: skip
    found: dict[str, set[str]] = {}
    for line in toc.split("\n"):  # not splitlines(): names may hold \x1c...
        match = _TOC_LINE.match(line)
        if match is None or match.group(2) == "0":
            continue
        rest = match.group(4)
        for description in descriptions:
            if rest.startswith(description + " "):
                tag = rest[len(description) + 1 :]
                keys = found.setdefault(description, set())
                keys.update(tag[:i] for i, char in enumerate(tag) if char == " ")
                keys.add(tag)
                break
    return found


def decode_rows(pg_restore: str, path: Path) -> dict[str, int]:
    """Rows per table of the archive at ``path``, decoded in full by
    ``pg_restore --file=-`` (ProcessError if it fails)."""
    argv = [pg_restore, "--file=-", str(path)]
    read, write = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write, "wb") as sink:
                process.run(argv, stdout=sink)
        except BaseException as exc:  # reported by the reader
            failure.append(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        with os.fdopen(read, "rb") as source:
            rows = copy_rows(source)
    finally:
        thread.join()
    if failure:
        if isinstance(failure[0], process.ProcessError):
            raise failure[0]
        raise BackupError(f"Cannot read {path}: {failure[0]}") from failure[0]
    return rows
