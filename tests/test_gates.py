"""Lock-aware gates of ``checkmigrations``, per backend and server version.

``tests/scenarios/lockgates`` on the three backends: every gate of the
backend under test fires on the existing table, none on tables created in
the same migration, silenced ones stay silent; exact messages, exit code 2.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.migrations.loader import MigrationLoader

from migration_guard.gates import locks as gates
from migration_guard.gates.locks import (
    Server,
    mysql_copies,
    pg_rewrites,
    server_of,
)
from tests.conftest import Database
from tests.test_checkmigrations import check as checkmigrations

LOCKGATES = {"scenario": "tests.scenarios.lockgates"}
BOOK = "scenario_book"

PG = {
    0: (
        "migration_guard.W020",
        "operations[0] AddIndex(book) builds index book_title_idx on the existing "
        f"table {BOOK} with CREATE INDEX, which blocks writes to {BOOK} until the "
        "whole table is indexed.",
    ),
    1: (
        "migration_guard.W021",
        "operations[1] AddConstraint(book) adds unique constraint book_code_uniq "
        f"to the existing table {BOOK}: its index is built with writes to {BOOK} "
        "blocked until every row is indexed.",
    ),
    2: (
        "migration_guard.W022",
        "operations[2] AddField(book.author) adds a foreign key on "
        f"{BOOK}.author_id to the existing table {BOOK} and validates every row "
        f"at once, under a SHARE ROW EXCLUSIVE lock on {BOOK} and on the "
        "referenced table (writes blocked).",
    ),
    3: (
        "migration_guard.W023",
        "operations[3] AddConstraint(book) adds check constraint "
        f"book_pages_positive to the existing table {BOOK} and checks every row "
        f"under an ACCESS EXCLUSIVE lock (reads and writes of {BOOK} blocked).",
    ),
    4: (
        "migration_guard.W024",
        f"operations[4] AlterField(book.rank) changes {BOOK}.rank from integer to "
        "bigint: PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE "
        f"lock (reads and writes of {BOOK} blocked).",
    ),
    6: (
        "migration_guard.W025",
        f"operations[6] AlterField(book.subtitle) makes {BOOK}.subtitle NOT NULL: "
        "PostgreSQL scans the whole table to check it under an ACCESS EXCLUSIVE "
        f"lock (reads and writes of {BOOK} blocked).",
    ),
}


def mysql_expected(server: Server) -> dict[int, tuple[str, str]]:
    copy = (
        f"{server.describe()} cannot do it with ALGORITHM=INSTANT or INPLACE: it "
        f"copies the table (ALGORITHM=COPY), blocking writes to {BOOK} for the "
        "whole copy."
    )
    expected = {
        2: (
            "migration_guard.W031",
            f"operations[2] AddField(book.author) adds a foreign key on "
            f"{BOOK}.author_id to the existing table {BOOK}: with "
            f"foreign_key_checks on, as Django runs it, {copy}",
        ),
        3: (
            "migration_guard.W032",
            "operations[3] AddConstraint(book) adds check constraint "
            f"book_pages_positive to the existing table {BOOK}: {copy}",
        ),
        4: (
            "migration_guard.W030",
            f"operations[4] AlterField(book.rank) changes {BOOK}.rank from integer "
            f"to bigint: {copy}",
        ),
    }
    if not (server.mariadb and server.at_least(10, 4, 3)):  # no instant VARCHAR
        expected[5] = (
            "migration_guard.W030",
            f"operations[5] AlterField(book.code) changes {BOOK}.code from "
            f"varchar(10) to varchar(100): {copy}",
        )
    return expected


def test_gates_of_the_backend_in_use(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = LOCKGATES
    server = server_of(database.connection)
    expected = {
        "postgresql": PG,
        "mysql": mysql_expected(server),
        "sqlite": {},
    }[database.vendor]
    code, out = checkmigrations("scenario", format="json")
    document = json.loads(out)
    assert document["checks"]["gates_server"] == server.describe()
    assert {
        p["operation_index"]: (p["check"], p["message"])
        for p in document["checks"]["gates"]
    } == expected
    assert {p["name"] for p in document["checks"]["gates"]} <= {"0002_locks"}
    assert [p["check"] for p in document["problems"]] == [
        check for check, _ in expected.values()
    ]
    assert code == (2 if expected else 0)

    code, out = checkmigrations("scenario")
    lines = out.splitlines()
    title = f"  Lock-aware gates ({server.describe()})"
    if not expected:
        assert f"{title}: none" in lines
        return
    start = lines.index(f"{title}: {len(expected)}")
    first_check, first_message = next(iter(expected.values()))
    assert lines[start + 1] == f"    scenario.0002_locks: {first_message}"
    assert lines[start + 2].startswith("      hint: ")
    assert lines[start + 2].endswith(
        "Or silence it for this migration: "
        f'migration_guard_silence = ["{first_check}"].'
    )
    assert out.count("scenario.0003_silenced") == 0


def test_hints_give_the_safe_alternative(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = LOCKGATES
    _, out = checkmigrations("scenario", format="json")
    hints = {p["check"]: p["hint"] for p in json.loads(out)["checks"]["gates"]}
    if database.vendor == "postgresql":
        assert (
            "AddIndexConcurrently in a migration with atomic = False"
            in hints["migration_guard.W020"]
        )
        assert "UNIQUE USING INDEX" in hints["migration_guard.W021"]
        assert "NOT VALID" in hints["migration_guard.W022"]
        assert "AddConstraintNotValid" in hints["migration_guard.W023"]
        assert "Expand and contract" in hints["migration_guard.W024"]
        assert "IS NOT NULL) NOT VALID" in hints["migration_guard.W025"]
    elif database.vendor == "mysql":
        assert "SET foreign_key_checks = 0" in hints["migration_guard.W031"]
        assert "gh-ost" in hints["migration_guard.W030"]
    else:
        assert hints == {}


@pytest.mark.backends("postgresql")
def test_silenced_gates_are_reported_when_asked(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = LOCKGATES
    loader = MigrationLoader(None, ignore_no_migrations=True)
    server = server_of(database.connection)
    found = gates.gate(
        loader, ["scenario"], server, database.connection, include_silenced=True
    )
    assert [
        (f.migration_name, f.operation_index, f.check_id) for f in found if f.silenced
    ] == [
        ("0003_silenced", 0, "migration_guard.W020"),
        ("0003_silenced", 1, "migration_guard.W021"),
    ]
    assert (
        gates.gate(
            loader, ["accounts", "catalog", "orders"], server, database.connection
        )
        == []
    )


@pytest.mark.backends("postgresql")
def test_postgresql_before_11_rewrites_for_a_default(
    database: Database, settings: Any
) -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    old = gates.gate(
        loader,
        ["accounts", "orders"],
        Server("postgresql", (10, 23)),
        database.connection,
    )
    assert [(f.check_id, f.migration, f.message) for f in old] == [
        (
            "migration_guard.W024",
            "accounts.0002_userprofile_has_profile_picture",
            "operations[0] AddField(userprofile.has_profile_picture) adds "
            "accounts_userprofile.has_profile_picture with a default: PostgreSQL "
            "10.23 (before 11) rewrites the whole table under an ACCESS EXCLUSIVE "
            "lock.",
        ),
        (
            "migration_guard.W024",
            "orders.0003_order_status",
            "operations[0] AddField(order.status) adds orders_order.status with a "
            "default: PostgreSQL 10.23 (before 11) rewrites the whole table under "
            "an ACCESS EXCLUSIVE lock.",
        ),
    ]
    new = gates.gate(
        loader,
        ["accounts", "orders"],
        Server("postgresql", (11, 0)),
        database.connection,
    )
    assert new == []


@pytest.mark.parametrize(
    ("old", "new", "rewrites"),
    [
        ("varchar(10)", "varchar(20)", False),
        ("varchar(20)", "varchar(10)", True),
        ("varchar(10)", "text", False),
        ("numeric(10, 2)", "numeric(12, 2)", False),
        ("numeric(10, 2)", "numeric(12, 3)", True),
        ("integer", "bigint", True),
        ("text", "varchar(10)", True),
    ],
)
def test_postgresql_type_changes_that_rewrite(
    old: str, new: str, rewrites: bool
) -> None:
    assert pg_rewrites(old, new) is rewrites


MARIADB_10_3 = Server("mysql", (10, 3, 39), mariadb=True)
MARIADB_10_11 = Server("mysql", (10, 11, 6), mariadb=True)
MYSQL_8 = Server("mysql", (8, 0, 36))


@pytest.mark.parametrize(
    ("old", "new", "server", "copies"),
    [
        ("varchar(10)", "varchar(60)", MYSQL_8, False),  # 40 -> 240 bytes
        ("varchar(10)", "varchar(64)", MYSQL_8, True),  # 40 -> 256: 2-byte length
        ("varchar(100)", "varchar(200)", MYSQL_8, False),
        ("varchar(10)", "varchar(64)", MARIADB_10_3, True),
        ("varchar(10)", "varchar(100)", MARIADB_10_11, False),
        ("varchar(100)", "varchar(50)", MARIADB_10_11, True),
        ("integer", "bigint", MYSQL_8, True),
        ("integer", "bigint", MARIADB_10_11, True),
        ("integer", "integer unsigned", MARIADB_10_11, True),
        ("integer", "varchar(10)", MARIADB_10_11, True),
    ],
)
def test_mysql_type_changes_that_copy(
    old: str, new: str, server: Server, copies: bool
) -> None:
    assert mysql_copies(old, new, server) is copies


#: column type changes as Django's schema editor writes them, old -> new
CHANGES = [
    ("integer", "bigint"),
    ("integer", "integer unsigned"),
    ("integer", "varchar(10)"),
    ("varchar(10)", "varchar(60)"),
    ("varchar(10)", "varchar(100)"),
    ("varchar(100)", "varchar(200)"),
    ("varchar(100)", "varchar(50)"),
    ("varchar(10)", "longtext"),
]
PG_CHANGES = [
    ("integer", "bigint"),
    ("varchar(10)", "varchar(20)"),
    ("varchar(20)", "varchar(10)"),
    ("varchar(10)", "text"),
    ("text", "varchar(10)"),
    ("numeric(10, 2)", "numeric(12, 2)"),
    ("numeric(10, 2)", "numeric(12, 3)"),
]


@pytest.mark.backends("mysql")
def test_mysql_rules_agree_with_the_server_in_use(database: Database) -> None:
    """Each rule, tried on the server: ALTER TABLE ... ALGORITHM=INPLACE."""
    server = server_of(database.connection)

    def inplace(sql: str) -> bool:
        database.query("DROP TABLE IF EXISTS gate_probe")
        database.query("DROP TABLE IF EXISTS gate_target")
        database.query("CREATE TABLE gate_target (id integer PRIMARY KEY)")
        database.query(
            f"CREATE TABLE gate_probe (id integer PRIMARY KEY, c {old}, p integer) "
            "CHARACTER SET utf8mb4"
        )
        try:
            database.query(f"ALTER TABLE gate_probe {sql}, ALGORITHM=INPLACE")
        except Exception as exc:
            assert "ALGORITHM=COPY" in str(exc), exc
            return False
        return True

    seen = []
    for old, new in CHANGES:
        copies = not inplace(f"MODIFY c {new}")
        seen.append((old, new, copies))
        assert mysql_copies(old, new, server) is copies, (old, new, server)
    old = "integer"
    assert not inplace(
        "ADD CONSTRAINT gate_fk FOREIGN KEY (p) REFERENCES gate_target (id)"
    )  # W031
    assert not inplace("ADD CONSTRAINT gate_ck CHECK (p >= 0)")  # W032
    assert inplace("MODIFY c integer NOT NULL")  # NOT NULL: no gate
    assert ("integer", "bigint", True) in seen


@pytest.mark.backends("postgresql")
def test_postgresql_rules_agree_with_the_server_in_use(database: Database) -> None:
    """Each type-change rule, tried: did the table's relfilenode change?"""
    for old, new in PG_CHANGES:
        database.query("DROP TABLE IF EXISTS gate_probe")
        database.query(f"CREATE TABLE gate_probe (id integer PRIMARY KEY, c {old})")
        database.query("INSERT INTO gate_probe VALUES (1, '1')")
        sql = "SELECT relfilenode FROM pg_class WHERE relname = 'gate_probe'"
        before = database.query(sql)
        database.query(
            f"ALTER TABLE gate_probe ALTER COLUMN c TYPE {new} USING c::{new}"
        )
        rewrote = database.query(sql) != before
        assert pg_rewrites(old, new) is rewrote, (old, new)


def test_server_description() -> None:
    assert Server("postgresql", (15, 20)).describe() == "PostgreSQL 15.20"
    assert MARIADB_10_11.describe() == "MariaDB 10.11.6"
    assert Server("mysql").describe() == "MySQL, version unknown"
    assert Server("sqlite", (3, 45, 1)).describe() == "SQLite 3.45.1"
