"""Lock-aware gates of ``checkmigrations`` on the statements of a RunSQL.

``tests/scenarios/lockgates_sql`` on the three backends: 0002 locks the
existing scenario_book in SQL (PostgreSQL and MySQL spellings side by side,
only read), 0003 is the safe spellings and DDL on tables it creates itself
(nothing found), 0004 is silenced for W020 and W032; exact messages and
hints, the same ids as the gates of Django's operations, exit code 2.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.migrations.loader import MigrationLoader

from migration_guard.gates import locks as gates
from migration_guard.gates.locks import Server, runsql, server_of
from tests.conftest import Database
from tests.test_checkmigrations import check as checkmigrations

BOOK = "scenario_book"

LOCKGATES_SQL = {"scenario": "tests.scenarios.lockgates_sql"}
ON_BOOK = f"on the existing table {BOOK} without CONCURRENTLY, which blocks writes "
NOT_VALID_HINT = (
    f"Add NOT VALID, then ALTER TABLE {BOOK} VALIDATE CONSTRAINT ... in a later "
    "migration (a SHARE UPDATE EXCLUSIVE lock only)."
)
PG_SQL = [
    (
        "0002_sql",
        0,
        "migration_guard.W020",
        "operations[0] RunSQL statement 1: runs CREATE INDEX book_title_sql "
        f"{ON_BOOK}to {BOOK} until the whole table is indexed.",
        "Use CREATE INDEX CONCURRENTLY, in a migration with atomic = False.",
    ),
    (
        "0002_sql",
        1,
        "migration_guard.W021",
        "operations[1] RunSQL statement 1: runs CREATE UNIQUE INDEX book_code_sql "
        f"{ON_BOOK}to {BOOK} until the whole table is indexed.",
        "Use CREATE UNIQUE INDEX CONCURRENTLY, in a migration with atomic = False.",
    ),
    (
        "0002_sql",
        2,
        "migration_guard.W022",
        "operations[2] RunSQL statement 1: adds foreign key book_author_sql to the "
        f"existing table {BOOK} without NOT VALID: every row is validated at once "
        f"under a SHARE ROW EXCLUSIVE lock on {BOOK} and on the referenced table "
        "(writes blocked).",
        NOT_VALID_HINT,
    ),
    (
        "0002_sql",
        3,
        "migration_guard.W023",
        "operations[3] RunSQL statement 1: adds check constraint book_pages_sql to "
        f"the existing table {BOOK} without NOT VALID: every row is checked under "
        f"an ACCESS EXCLUSIVE lock (reads and writes of {BOOK} blocked).",
        NOT_VALID_HINT,
    ),
    (
        "0002_sql",
        4,
        "migration_guard.W024",
        f"operations[4] RunSQL statement 1: changes {BOOK}.rank from integer to "
        "bigint: PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE "
        f"lock (reads and writes of {BOOK} blocked).",
        "Expand and contract instead: add a column of the new type, backfill it "
        "in batches, switch the code to it, then drop the old one.",
    ),
    (
        "0002_sql",
        5,
        "migration_guard.W025",
        f"operations[5] RunSQL statement 2: runs SET NOT NULL on {BOOK}.subtitle: "
        "PostgreSQL scans the whole table to check it under an ACCESS EXCLUSIVE "
        f"lock (reads and writes of {BOOK} blocked).",
        "Add CHECK (subtitle IS NOT NULL) NOT VALID, VALIDATE it in a later "
        "migration, then SET NOT NULL (PostgreSQL 12+ trusts the validated check "
        "and skips the scan) and drop the check.",
    ),
    (
        "0002_sql",
        10,
        "migration_guard.W024",
        "operations[10] RunSQL statement 1: changes the type of legacy_report.total "
        "to numeric(12, 2): unless the change needs no rewrite (varchar to a "
        "longer varchar or text, numeric to a larger precision), PostgreSQL "
        "rewrites the whole table under an ACCESS EXCLUSIVE lock (reads and "
        "writes of legacy_report blocked).",
        "Expand and contract instead: add a column of the new type, backfill it "
        "in batches, switch the code to it, then drop the old one.",
    ),
    (  # 0004 silences W020 and W032 only
        "0004_silenced",
        1,
        "migration_guard.W023",
        "operations[1] RunSQL statement 1: adds check constraint book_rank2_sql to "
        f"the existing table {BOOK} without NOT VALID: every row is checked under "
        f"an ACCESS EXCLUSIVE lock (reads and writes of {BOOK} blocked).",
        NOT_VALID_HINT,
    ),
]


def mysql_sql_expected(server: Server) -> list[tuple[str, int, str, str, str]]:
    def copy(table: str) -> str:
        return (
            f"{server.describe()} cannot do it with ALGORITHM=INSTANT or INPLACE: "
            f"it copies the table (ALGORITHM=COPY), blocking writes to {table} for "
            "the whole copy."
        )

    check_hint = (
        "Enforce the rule in the application first, and add the constraint in a "
        "maintenance window or with an online schema change tool (gh-ost, "
        "pt-online-schema-change)."
    )
    copy_hint = (
        "Expand and contract instead (add a column of the new type, backfill it "
        "in batches, switch the code, drop the old one), or run the change with "
        "an online schema change tool (gh-ost, pt-online-schema-change)."
    )
    return [
        (
            "0002_sql",
            2,
            "migration_guard.W031",
            "operations[2] RunSQL statement 1: adds foreign key book_author_sql to "
            f"the existing table {BOOK} with foreign_key_checks on: {copy(BOOK)}",
            "Run SET foreign_key_checks = 0 before it in the same RunSQL "
            "(ALGORITHM=INPLACE; the existing rows are then not checked, so check "
            "them first).",
        ),
        (
            "0002_sql",
            3,
            "migration_guard.W032",
            "operations[3] RunSQL statement 1: adds check constraint book_pages_sql "
            f"to the existing table {BOOK}: {copy(BOOK)}",
            check_hint,
        ),
        (
            "0002_sql",
            6,
            "migration_guard.W030",
            f"operations[6] RunSQL statement 1: changes {BOOK}.rank from integer "
            f"to bigint: {copy(BOOK)}",
            copy_hint,
        ),
        (  # MySQL has no NOT VALID
            "0002_sql",
            9,
            "migration_guard.W032",
            "operations[9] RunSQL statement 1: adds check constraint book_rank_sql "
            f"to the existing table {BOOK}: {copy(BOOK)}",
            check_hint,
        ),
        (
            "0002_sql",
            10,
            "migration_guard.W030",
            "operations[10] RunSQL statement 2: changes the type of "
            "legacy_report.total to decimal(12, 2): unless it only makes a VARCHAR "
            f"longer, {copy('legacy_report')}",
            copy_hint,
        ),
    ]


def test_runsql_statements_are_gated(database: Database, settings: Any) -> None:
    """0002 locks scenario_book in SQL; 0003 is the safe spellings and DDL on
    tables it creates itself (nothing); 0004 is silenced for W020 and W032."""
    settings.MIGRATION_MODULES = LOCKGATES_SQL
    server = server_of(database.connection)
    expected = {
        "postgresql": PG_SQL,
        "mysql": mysql_sql_expected(server) if database.vendor == "mysql" else [],
        "sqlite": [],
    }[database.vendor]
    code, out = checkmigrations("scenario", format="json")
    document = json.loads(out)
    silence = 'Or silence it for this migration: migration_guard_silence = ["{}"].'
    assert [
        (p["name"], p["operation_index"], p["check"], p["message"], p["hint"])
        for p in document["checks"]["gates"]
    ] == [
        (name, index, check, message, f"{hint} {silence.format(check)}")
        for name, index, check, message, hint in expected
    ]
    assert [p["check"] for p in document["problems"]] == [e[2] for e in expected]
    assert code == (2 if expected else 0)


def test_runsql_silenced_gates_are_reported_when_asked(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = LOCKGATES_SQL
    server = server_of(database.connection)
    loader = MigrationLoader(None, ignore_no_migrations=True)
    found = gates.gate(
        loader, ["scenario"], server, database.connection, include_silenced=True
    )
    silenced = [
        (f.migration_name, f.operation_index, f.check_id) for f in found if f.silenced
    ]
    assert (
        silenced
        == {
            "postgresql": [("0004_silenced", 0, "migration_guard.W020")],
            "mysql": [("0004_silenced", 1, "migration_guard.W032")],
            "sqlite": [],
        }[database.vendor]
    )


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT 1", ["SELECT 1"]),
        (
            "-- note\nCREATE INDEX a ON t (x);\n\n  ALTER TABLE t\n  ADD c int;",
            ["CREATE INDEX a ON t (x)", "ALTER TABLE t ADD c int"],
        ),
        (
            ["SET x = 1", ("UPDATE t SET y = %s", [1])],
            ["SET x = 1", "UPDATE t SET y = %s"],
        ),
        ("SELECT ';' /* ; */; SELECT 2", ["SELECT ';'", "SELECT 2"]),
    ],
)
def test_runsql_statements(sql: Any, expected: list[str]) -> None:
    assert runsql.statements(sql) == expected


@pytest.mark.parametrize(
    "text, normal",
    [
        ("BIGINT", "bigint"),
        ("int8", "bigint"),
        ("character varying (20)", "varchar(20)"),
        ("numeric(12,2)", "numeric(12, 2)"),
        ("Decimal( 12 , 2 )", "decimal(12, 2)"),
    ],
)
def test_types_as_django_spells_them(text: str, normal: str) -> None:
    assert runsql._normal_type(text) == normal
