"""The MariaDB/MySQL dump reader: rows counted and parsed, no data in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_guard.backup.mysql_dump import DumpError, read_rows

HEAD = b"-- MariaDB dump 10.19\n\nCREATE TABLE `t` (\n  `id` int\n);\n"
TAIL = b"-- Dump completed on 2026-12-02 19:00:00\n"


def dump(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "d.sql"
    path.write_bytes(HEAD + body + TAIL)
    return path


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        # MariaDB 10.11.8+: one row per line
        (b"INSERT INTO `t` VALUES\n(1,'a'),\n(2,'b),(\\'c'),\n(3,NULL);\n", 3),
        # older dumps: every row on one line; strings holding "),(" and escapes
        (b"INSERT INTO `t` VALUES (1,'x),(y'),(2,'\\\\'),(3,0x00FF);\n", 3),
        (b"INSERT INTO `t` VALUES (1,'a');\nINSERT INTO `t` VALUES (2,'b');\n", 2),
        (b"", 0),
    ],
)
def test_rows_are_counted_from_the_dump(tmp_path: Path, body: bytes, rows: int) -> None:
    path = dump(tmp_path, body)
    assert read_rows(path) == {"t": rows}
    assert read_rows(path, parse=False) == {"t": rows}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"INSERT INTO `t` VALUES\n(1,'secret'),\n(2,'sec;\n",
            "a row is not well-formed in an INSERT into table `t`",
        ),
        (
            b"INSERT INTO `t` VALU\n(1,'secret');\n",
            "a statement is not well-formed (a line starts with INSERT but is "
            "not an INSERT INTO ... VALUES)",
        ),
        (
            b"INSERT INTO `t` VALUES (1,'secret'),(2,'x'",
            "the file ends inside the INSERT into table `t`",
        ),
    ],
)
def test_a_malformed_dump_is_refused_without_its_data(
    tmp_path: Path, body: bytes, message: str
) -> None:
    path = tmp_path / "d.sql"
    path.write_bytes(HEAD + body)
    with pytest.raises(DumpError) as caught:
        read_rows(path)
    assert str(caught.value) == message
    assert "secret" not in str(caught.value)
