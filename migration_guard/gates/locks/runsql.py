"""The lock-aware gates of the statements of a ``RunSQL``, with the same ids.

The SQL is split into statements with sqlparse (comments dropped) and each
one matched against the DDL the gates of Django's operations catch:

- PostgreSQL: ``CREATE [UNIQUE] INDEX`` without CONCURRENTLY (W020/W021);
  ``ALTER TABLE ... ADD ... FOREIGN KEY`` / ``CHECK`` without NOT VALID
  (W022/W023); ``ALTER [COLUMN] ... [SET DATA] TYPE`` that rewrites (W024);
  ``SET NOT NULL`` (W025);
- MySQL/MariaDB: ``MODIFY``/``CHANGE`` to a type that needs a copy (W030);
  ``ADD ... FOREIGN KEY`` unless the same RunSQL turned
  ``foreign_key_checks`` off before it (W031); ``ADD ... CHECK`` (W032).

A type change is judged against the column's type in the project state when
the table and column are Django's; otherwise it is reported, hedged. A table
created earlier in the same migration (``CreateModel``, ``CREATE TABLE``)
does not count.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import sqlparse
from django.db import migrations

from migration_guard.gates.lint import Finding
from migration_guard.gates.locks import mysql, postgresql
from migration_guard.gates.locks.context import (
    CHECK,
    COPY,
    COPY_CHECK,
    COPY_FOREIGN_KEY,
    FOREIGN_KEY,
    INDEX,
    NOT_NULL,
    REWRITE,
    UNIQUE,
    Context,
    column,
    db_type,
)

_ID = r"[`\"]?(\w+)[`\"]?"
NAME = rf"(?:[`\"]?\w+[`\"]?\.)?{_ID}"
_CREATE_INDEX = re.compile(
    r"^create\s+(unique\s+)?index\s+(concurrently\s+)?(?:if\s+not\s+exists\s+)?"
    rf"(?:(?!on\s){_ID}\s+)?on\s+(?:only\s+)?{NAME}",
    re.IGNORECASE,
)
_ALTER_TABLE = re.compile(
    rf"^alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?{NAME}\s+(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_TABLE = re.compile(
    rf"^create\s+(?:temporary\s+)?table\s+(?:if\s+not\s+exists\s+)?{NAME}",
    re.IGNORECASE,
)
_ADD = rf"add\s+(?:constraint\s+{_ID}\s+)?"
_FOREIGN_KEY = re.compile(_ADD + r"foreign\s+key", re.IGNORECASE)
_CHECK = re.compile(_ADD + r"check\s*\(", re.IGNORECASE)
_NOT_VALID = re.compile(r"\bnot\s+valid\b", re.IGNORECASE)
_TYPE = r"(\w+(?:\s+(?!using\b|collate\b)\w+)?(?:\s*\([^)]*\))?)"
_PG_TYPE = re.compile(
    rf"alter\s+(?:column\s+)?{_ID}\s+(?:set\s+data\s+)?type\s+{_TYPE}", re.IGNORECASE
)
_PG_NOT_NULL = re.compile(
    rf"alter\s+(?:column\s+)?{_ID}\s+set\s+not\s+null", re.IGNORECASE
)
_MY_TYPE = re.compile(
    rf"(?:modify\s+(?:column\s+)?{_ID}|change\s+(?:column\s+)?{_ID}\s+{_ID})"
    r"\s+(\w+(?:\s*\([^)]*\))?(?:\s+unsigned)?)",
    re.IGNORECASE,
)
_FK_CHECKS_OFF = re.compile(
    r"^set\s+(?:session\s+|@@session\.|@@)?foreign_key_checks\s*=\s*(?:0|off)\b",
    re.IGNORECASE,
)
#: PostgreSQL's other names of a type, as Django's db_type spells it
_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "float8": "double precision",
    "bool": "boolean",
}


def statements(sql: Any) -> list[str]:
    """The statements of a RunSQL's ``sql``: one line each, comments dropped."""
    items = [sql] if isinstance(sql, str) else list(sql or ())
    found = []
    for item in items:
        text = item[0] if isinstance(item, list | tuple) else item
        cleaned = sqlparse.format(str(text), strip_comments=True)
        for statement in sqlparse.split(cleaned):
            one = " ".join(statement.split()).rstrip(";").strip()
            if one:
                found.append(one)
    return found


def created_tables(op: Any) -> set[str]:
    """The tables a RunSQL creates (``CREATE TABLE``)."""
    if not isinstance(op, migrations.RunSQL):
        return set()
    return {
        match[1]
        for match in map(_CREATE_TABLE.match, statements(op.sql))
        if match is not None
    }


def _normal_type(text: str) -> str:
    """A type as Django's ``db_type`` spells it: lower case, ``(p, s)``."""
    value = " ".join(text.lower().split())
    value = re.sub(r"\s*\(\s*", "(", value)
    value = re.sub(r"\s*\)", ")", value)
    value = re.sub(r"\s*,\s*", ", ", value)
    value = value.replace("character varying", "varchar")
    return _ALIASES.get(value, value)


def _old_type(c: Context, table: str, name: str) -> str | None:
    """The type of ``table``.``name`` in the project state, when Django's."""
    for (label, model), model_state in c.state.models.items():
        if (model_state.options.get("db_table") or f"{label}_{model}") != table:
            continue
        for field_name, field in model_state.fields.items():
            if column(field_name, field) == name:
                return db_type(field, c.connection)
    return None


def rules(c: Context, op: migrations.RunSQL, created: set[str]) -> Iterator[Finding]:
    """The findings of ``op``'s statements for ``c.server``."""
    fk_checks_on, created = True, set(created)
    for number, statement in enumerate(statements(op.sql), 1):
        if _FK_CHECKS_OFF.match(statement):
            fk_checks_on = False
        creates = _CREATE_TABLE.match(statement)
        if creates is not None:
            created.add(creates[1])
        where = f"statement {number}:"
        index = _CREATE_INDEX.match(statement)
        if index and c.server.vendor == "postgresql" and index[4] not in created:
            yield from _pg_index(c, where, index)
        alter = _ALTER_TABLE.match(statement)
        if alter is None or alter[1] in created:
            continue
        table, actions = alter[1], alter[2]
        if c.server.vendor == "postgresql":
            yield from _pg_alter(c, where, table, actions)
        else:
            yield from _my_alter(c, where, table, actions, fk_checks_on)


def _pg_index(c: Context, where: str, match: re.Match[str]) -> Iterator[Finding]:
    unique, concurrently, name, table = match[1], match[2], match[3], match[4]
    if concurrently:
        return
    kind = "CREATE UNIQUE INDEX" if unique else "CREATE INDEX"
    yield c.finding(
        UNIQUE if unique else INDEX,
        f"{where} runs {kind} {name or '(unnamed)'} on the existing table {table} "
        f"without CONCURRENTLY, which blocks writes to {table} until the whole "
        "table is indexed.",
        f"Use {kind} CONCURRENTLY, in a migration with atomic = False.",
    )


def _pg_alter(c: Context, where: str, table: str, actions: str) -> Iterator[Finding]:
    not_valid = bool(_NOT_VALID.search(actions))
    validate = (
        f"Add NOT VALID, then ALTER TABLE {table} VALIDATE CONSTRAINT ... in a "
        "later migration (a SHARE UPDATE EXCLUSIVE lock only)."
    )
    for match in _FOREIGN_KEY.finditer(actions):
        if not not_valid:
            yield c.finding(
                FOREIGN_KEY,
                f"{where} adds foreign key {match[1] or '(unnamed)'} to the existing "
                f"table {table} without NOT VALID: every row is validated at once "
                f"under a SHARE ROW EXCLUSIVE lock on {table} and on the referenced "
                "table (writes blocked).",
                validate,
            )
    for match in _CHECK.finditer(actions):
        if not not_valid:
            yield c.finding(
                CHECK,
                f"{where} adds check constraint {match[1] or '(unnamed)'} to the "
                f"existing table {table} without NOT VALID: every row is checked "
                f"under an ACCESS EXCLUSIVE lock (reads and writes of {table} "
                "blocked).",
                validate,
            )
    for match in _PG_TYPE.finditer(actions):
        yield from _pg_type(c, where, table, match[1], _normal_type(match[2]))
    for match in _PG_NOT_NULL.finditer(actions):
        yield c.finding(
            NOT_NULL,
            f"{where} runs SET NOT NULL on {table}.{match[1]}: PostgreSQL scans the "
            "whole table to check it under an ACCESS EXCLUSIVE lock (reads and "
            f"writes of {table} blocked).",
            f"Add CHECK ({match[1]} IS NOT NULL) NOT VALID, VALIDATE it in a later "
            "migration, then SET NOT NULL (PostgreSQL 12+ trusts the validated "
            "check and skips the scan) and drop the check.",
        )


def _pg_type(
    c: Context, where: str, table: str, name: str, new: str
) -> Iterator[Finding]:
    old = _old_type(c, table, name)
    if old is not None and not postgresql.pg_rewrites(old, new):
        return
    what = (
        f"changes {table}.{name} from {old} to {new}:"
        if old is not None
        else f"changes the type of {table}.{name} to {new}: unless the change "
        "needs no rewrite (varchar to a longer varchar or text, numeric to a "
        "larger precision),"
    )
    yield c.finding(
        REWRITE,
        f"{where} {what} PostgreSQL rewrites the whole table under an ACCESS "
        f"EXCLUSIVE lock (reads and writes of {table} blocked).",
        postgresql.REWRITE_HINT,
    )


def _my_alter(
    c: Context, where: str, table: str, actions: str, fk_checks_on: bool
) -> Iterator[Finding]:
    copy = mysql.copy_text(_on(c, table))
    for match in _FOREIGN_KEY.finditer(actions):
        if fk_checks_on:
            yield c.finding(
                COPY_FOREIGN_KEY,
                f"{where} adds foreign key {match[1] or '(unnamed)'} to the existing "
                f"table {table} with foreign_key_checks on: {copy}",
                "Run SET foreign_key_checks = 0 before it in the same RunSQL "
                "(ALGORITHM=INPLACE; the existing rows are then not checked, so "
                "check them first).",
            )
    for match in _CHECK.finditer(actions):
        yield c.finding(
            COPY_CHECK,
            f"{where} adds check constraint {match[1] or '(unnamed)'} to the "
            f"existing table {table}: {copy}",
            mysql.CHECK_HINT,
        )
    for match in _MY_TYPE.finditer(actions):
        name, new = match[1] or match[3], _normal_type(match[4])
        old = _old_type(c, table, match[1] or match[2])
        if old is not None and not mysql.mysql_copies(old, new, c.server):
            continue
        what = (
            f"changes {table}.{name} from {old} to {new}: "
            if old is not None
            else f"changes the type of {table}.{name} to {new}: unless it only "
            "makes a VARCHAR longer, "
        )
        yield c.finding(COPY, f"{where} {what}{copy}", mysql.COPY_HINT)


def _on(c: Context, table: str) -> Context:
    """``c`` for ``table`` (a RunSQL's table is its statement's)."""
    return dataclasses.replace(c, table=table)
