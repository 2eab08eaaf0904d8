"""Faking is refused when the live schema contradicts the migration.

Each case is one migration of ``tests/scenarios/verify``: the database is
migrated up to it, then its effect is damaged by hand with the vendor's own
SQL (as a DBA would), so the schema says something else than the history.
While the migration is recorded, ``reconcile --check`` reports drift; once
its ``django_migrations`` row is deleted, ``guardedmigrate --fake`` and
``reconcile --fake`` refuse to record it again (exit 4), naming the table,
column or constraint, and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from migration_guard.exceptions import CheckFailed, VerificationRefused
from migration_guard.models import MigrationRun
from migration_guard.reconcile.verdict import STATUS_TEXT
from tests.conftest import Database
from tests.test_reconcile import delete_record, refused, report, run

VERIFY = {"scenario": "tests.scenarios.verify"}


# --- damage by hand, per vendor ----------------------------------------------


def execute(db: Database, *statements: str) -> None:
    for statement in statements:
        db.query(statement)


def rebuild_sqlite_table(
    db: Database, table: str, pattern: str, replacement: str = ""
) -> None:
    """Edit a SQLite table's definition the way SQLite documents it.

    SQLite cannot alter or drop a column's type, nullability or constraints:
    a new table is created from the edited ``CREATE TABLE``, the rows copied,
    the old table dropped, the new one renamed and the indexes recreated.
    """
    ((create,),) = db.query(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
    )
    indexes = [
        sql
        for (sql,) in db.query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL",
            [table],
        )
    ]
    edited, count = re.subn(pattern, replacement, create)
    assert count == 1, (pattern, create)
    temporary = f"new__{table}"
    execute(
        db,
        "PRAGMA foreign_keys = OFF",
        edited.replace(f'"{table}"', f'"{temporary}"', 1),
        f'INSERT INTO "{temporary}" SELECT * FROM "{table}"',
        f'DROP TABLE "{table}"',
        f'ALTER TABLE "{temporary}" RENAME TO "{table}"',
        *indexes,
        "PRAGMA foreign_keys = ON",
    )


def quote(db: Database, name: str) -> str:
    return str(db.connection.ops.quote_name(name))


def drop_table(table: str) -> Callable[[Database], None]:
    return lambda db: execute(db, f"DROP TABLE {quote(db, table)}")


def drop_column(table: str, column: str) -> Callable[[Database], None]:
    return lambda db: execute(
        db, f"ALTER TABLE {quote(db, table)} DROP COLUMN {quote(db, column)}"
    )


def alter_column(
    table: str, column: str, sql_type: str, *, null: bool
) -> Callable[[Database], None]:
    nullability = "NULL" if null else "NOT NULL"

    def damage(db: Database) -> None:
        t, c = quote(db, table), quote(db, column)
        if db.vendor == "sqlite":
            rebuild_sqlite_table(
                db,
                table,
                rf'"{column}" [^,]+?(?=, "|, CONSTRAINT|\)$)',
                f'"{column}" {sql_type} {nullability}',
            )
        elif db.vendor == "postgresql":
            alter = f"ALTER TABLE {t} ALTER COLUMN {c}"
            execute(
                db,
                f"{alter} TYPE {sql_type} USING {c}::{sql_type}",
                f"{alter} {'DROP' if null else 'SET'} NOT NULL",
            )
        else:
            execute(db, f"ALTER TABLE {t} MODIFY {c} {sql_type} {nullability}")

    return damage


def drop_index(table: str, name: str) -> Callable[[Database], None]:
    def damage(db: Database) -> None:
        on = f" ON {quote(db, table)}" if db.vendor == "mysql" else ""
        execute(db, f"DROP INDEX {quote(db, name)}{on}")

    return damage


def drop_foreign_key(table: str, column: str) -> Callable[[Database], None]:
    def damage(db: Database) -> None:
        if db.vendor == "sqlite":
            rebuild_sqlite_table(
                db,
                table,
                rf'("{column}" [^,]*?) REFERENCES "\w+" \("\w+"\) '
                "DEFERRABLE INITIALLY DEFERRED",
                r"\1",
            )
            return
        with db.connection.cursor() as cursor:
            constraints = db.connection.introspection.get_constraints(cursor, table)
        (name,) = [
            name
            for name, info in constraints.items()
            if info["foreign_key"] and info["columns"] == [column]
        ]
        kind = "FOREIGN KEY" if db.vendor == "mysql" else "CONSTRAINT"
        execute(db, f"ALTER TABLE {quote(db, table)} DROP {kind} {quote(db, name)}")

    return damage


def drop_constraint(table: str, name: str, kind: str) -> Callable[[Database], None]:
    """Drop a named UNIQUE or CHECK constraint."""

    def damage(db: Database) -> None:
        if db.vendor == "sqlite":
            rebuild_sqlite_table(
                db, table, rf', CONSTRAINT "{name}" {kind} \(.*?\)(?=, CONSTRAINT|\)$)'
            )
            return
        what = "INDEX" if db.vendor == "mysql" and kind == "UNIQUE" else "CONSTRAINT"
        execute(db, f"ALTER TABLE {quote(db, table)} DROP {what} {quote(db, name)}")

    return damage


# --- the cases -----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    migration: str
    damage: Callable[[Database], None]
    #: the migration's status once its record is deleted
    unrecorded: str
    #: the difference every report names
    difference: str
    #: where SQLite names it otherwise (its integers compare as one storage)
    on_sqlite: str | None = None

    def message(self, vendor: str) -> str:
        """The difference as ``vendor``'s reports name it."""
        if vendor == "sqlite" and self.on_sqlite is not None:
            return self.on_sqlite
        return self.difference


CASES = {
    "missing table": Case(
        "0002_book",
        drop_table("scenario_book"),
        "pending",
        "table scenario_book: missing",
    ),
    "missing column": Case(
        "0003_author_email",
        drop_column("scenario_author", "email"),
        "pending",
        "column scenario_author.email: missing "
        "(expected CharField(254) (EmailField) NULL)",
    ),
    "wrong type": Case(
        "0004_book_pages",
        alter_column("scenario_book", "pages", "varchar(20)", null=False),
        "partial",
        "column scenario_book.pages: expected IntegerField NOT NULL, "
        "found CharField(20) NOT NULL",
        "column scenario_book.pages: expected integer (IntegerField) NOT NULL, "
        "found CharField(20) NOT NULL",
    ),
    "wrong max_length": Case(
        "0005_book_title_length",
        alter_column("scenario_book", "title", "varchar(200)", null=False),
        "pending",
        "column scenario_book.title: expected CharField(300) NOT NULL, "
        "found CharField(200) NOT NULL",
    ),
    "wrong nullability": Case(
        "0006_book_subtitle",
        alter_column("scenario_book", "subtitle", "varchar(100)", null=True),
        "partial",
        "column scenario_book.subtitle: expected CharField(100) NOT NULL, "
        "found CharField(100) NULL",
    ),
    "missing index": Case(
        "0007_book_title_index",
        drop_index("scenario_book", "book_title_idx"),
        "pending",
        "index (title) on scenario_book: missing",
    ),
    "missing foreign key": Case(
        "0008_book_author",
        drop_foreign_key("scenario_book", "author_id"),
        "partial",
        "foreign key scenario_book.author_id: missing "
        "(expected FOREIGN KEY (author_id) REFERENCES scenario_author (id))",
    ),
    "missing unique constraint": Case(
        "0009_author_name_email_unique",
        drop_constraint("scenario_author", "author_name_email_uniq", "UNIQUE"),
        "pending",
        "unique (email, name) on scenario_author: missing",
    ),
    "missing check constraint": Case(
        "0010_book_pages_check",
        drop_constraint("scenario_book", "book_pages_gte_0", "CHECK"),
        "pending",
        "check constraint book_pages_gte_0 on scenario_book: missing",
    ),
    "missing m2m table": Case(
        "0011_book_tags",
        drop_table("scenario_book_tags"),
        "pending",
        "table scenario_book_tags: missing",
    ),
}


def verdict(migration: str) -> dict[str, Any]:
    (found,) = [m for m in report("scenario")["migrations"] if m["name"] == migration]
    return dict(found)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_damage_is_drift_and_faking_it_is_refused(
    database: Database, settings: Any, case: Case
) -> None:
    settings.MIGRATION_MODULES = VERIFY
    name = case.migration
    run("migrate", "scenario", name, verbosity=0)
    assert verdict(name)["status"] == "applied"
    case.damage(database)

    # recorded: drift, with the difference named
    error, out = refused(CheckFailed, "reconcile", "scenario", check=True)
    assert error.returncode == 2
    assert str(error) == (
        f"1 migration on database 'default' does not match the schema: scenario.{name}."
    )
    assert re.search(rf"\[X\] {name} +applied, effects missing \(drift\)\n", out)
    assert f"\n        {case.message(database.vendor)}\n" in out
    drift = verdict(name)
    assert drift["status"] == "drift"
    assert [d["message"] for d in drift["differences"]] == [
        case.message(database.vendor)
    ]

    # unrecorded: faking it is refused and nothing is written
    delete_record(database, "scenario", name)
    rows = database.migration_rows()
    assert verdict(name)["status"] == case.unrecorded

    error, _ = refused(
        VerificationRefused, "guardedmigrate", "scenario", name, fake=True
    )
    assert error.returncode == 4
    assert str(error) == (
        "Refusing to record 1 migration as applied on database 'default'; "
        f"nothing was changed.\n  scenario.{name}: effects not present:\n"
        f"    {case.message(database.vendor)}\n"
        "Fix the schema, run without --fake, or pass --force-fake --reason TEXT "
        "to record them anyway (the ledger keeps the reason and the differences)."
    )
    assert database.migration_rows() == rows
    last = MigrationRun.objects.using("default").order_by("-id").first()
    assert last is not None
    assert (last.command, last.fake, last.outcome, last.executed, last.backup_id) == (
        "guardedmigrate",
        True,
        "failed",
        [],
        "",
    )
    assert f"VerificationRefused: {error}" in last.error

    error, _ = refused(VerificationRefused, "reconcile", "scenario", name, fake=True)
    assert error.returncode == 4
    assert str(error) == (
        f"Not recording scenario.{name} on database 'default': "
        f"{STATUS_TEXT[case.unrecorded]}.\n    {case.message(database.vendor)}\n"
        "Nothing was changed."
    )
    assert database.migration_rows() == rows

    # faking everything leaves it out, with the reason
    out = run("reconcile", "scenario", fake=True)
    assert database.migration_rows() == rows
    assert f"\n  scenario.{name}: {STATUS_TEXT[case.unrecorded]}\n" in out


def test_force_fake_keeps_the_reason_and_the_differences(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = VERIFY
    case = CASES["wrong type"]
    name = case.migration
    run("migrate", "scenario", name, verbosity=0)
    case.damage(database)
    delete_record(database, "scenario", name)
    reason = "pages were text in the old system"

    # reconcile forces only what cannot be verified, never a contradiction
    error, _ = refused(
        VerificationRefused,
        "reconcile",
        "scenario",
        name,
        fake=True,
        force_fake=True,
        reason=reason,
    )
    assert error.returncode == 4
    assert ("scenario", name) not in database.migration_rows()

    out = run(
        "guardedmigrate", "scenario", name, fake=True, force_fake=True, reason=reason
    )
    assert f"  Applying scenario.{name}... FAKED\n" in out
    assert ("scenario", name) in database.migration_rows()
    last = MigrationRun.objects.using("default").order_by("-id").first()
    assert last is not None
    assert last.outcome == "success"
    assert [
        {key: entry.get(key) for key in ("name", "verification", "reason")}
        for entry in last.executed
    ] == [{"name": name, "verification": "forced", "reason": reason}]
    assert last.executed[0]["differences"] == [case.message(database.vendor)]
    # recorded against the evidence: from now on it is drift
    assert verdict(name)["status"] == "drift"


def test_fake_initial_refuses_tables_that_differ(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = VERIFY
    run("migrate", "scenario", "0001", verbosity=0)
    alter_column("scenario_author", "name", "text", null=False)(database)
    delete_record(database, "scenario", "0001_initial")
    difference = (
        "column scenario_author.name: expected CharField(100) NOT NULL, "
        "found TextField NOT NULL"
    )

    error, _ = refused(
        VerificationRefused, "guardedmigrate", "scenario", "0001", fake_initial=True
    )
    assert error.returncode == 4
    assert str(error).startswith(
        "Refusing to record 1 migration as applied on database 'default'; "
        "nothing was changed.\n  scenario.0001_initial: effects not present:\n"
        f"    {difference}\nFix the schema, "
    )
    assert database.migration_rows() == []

    # Django's own --fake-initial looks at table and column names only
    out = run("migrate", "scenario", "0001", fake_initial=True)
    assert "  Applying scenario.0001_initial... FAKED\n" in out
    assert database.migration_rows() == [("scenario", "0001_initial")]
    assert verdict("0001_initial")["status"] == "drift"
