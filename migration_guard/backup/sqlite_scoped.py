"""Plan-scoped SQLite backups: a copy of some tables, restored in one transaction.

The backup is itself a SQLite database holding the scope's tables as the
live database defines them (``sqlite_master``'s own SQL), their rows, their
indexes and triggers, and their ``sqlite_sequence`` counters. It is read in
one read transaction of the live database, so it is a consistent snapshot.

A restore drops the scope's tables (those the plan created too), creates
them again from the backup and copies the rows back, all in one transaction
with foreign keys off, then runs ``PRAGMA foreign_key_check`` before it
commits: SQLite's DDL is transactional, so a restore that fails or is
killed leaves the database as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from migration_guard.backup.base import BackupError
from migration_guard.backup.scoped import TableScope


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _marks(names: Sequence[str]) -> str:
    return ", ".join("?" * len(names))


def _definitions(
    db: sqlite3.Connection, schema: str, tables: Sequence[str], kind: str
) -> list[tuple[str, str]]:
    """(name, SQL) of the ``kind`` objects of ``tables`` in ``schema``, in
    creation order (SQLite's own indexes have no SQL and are left out)."""
    return db.execute(
        f"SELECT name, sql FROM {schema}.sqlite_master WHERE type = ? "
        f"AND tbl_name IN ({_marks(tables)}) AND sql IS NOT NULL ORDER BY rowid",
        [kind, *tables],
    ).fetchall()


def _copy_tables(
    db: sqlite3.Connection, source: str, target: str, tables: Sequence[str]
) -> None:
    """Create ``tables`` in ``target`` as ``source`` defines them, with rows,
    indexes, triggers and AUTOINCREMENT counters."""
    for name, sql in _definitions(db, source, tables, "table"):
        db.execute(sql)  # unqualified: created in main, which is ``target``
        db.execute(
            f"INSERT INTO {target}.{_quote(name)} SELECT * FROM {source}.{_quote(name)}"
        )
    for kind in ("index", "trigger"):
        for _name, sql in _definitions(db, source, tables, kind):
            db.execute(sql)
    if _has_sequence(db, source) and _has_sequence(db, target):
        # copying the rows set the counters to the largest ids: put back the
        # source's, which may be higher (ids handed out, rows deleted since);
        # max(): backups taken before this fix hold two rows per table
        db.execute(
            f"DELETE FROM {target}.sqlite_sequence WHERE name IN ({_marks(tables)})",
            list(tables),
        )
        db.execute(
            f"INSERT INTO {target}.sqlite_sequence (name, seq) SELECT name, "
            f"max(seq) FROM {source}.sqlite_sequence WHERE name IN "
            f"({_marks(tables)}) GROUP BY name",  # one row each, as SQLite keeps
            list(tables),
        )


def _has_sequence(db: sqlite3.Connection, schema: str) -> bool:
    row = db.execute(
        f"SELECT 1 FROM {schema}.sqlite_master WHERE name = 'sqlite_sequence'"
    ).fetchone()
    return row is not None


def dump_tables(live: Path, path: Path, tables: Sequence[str]) -> None:
    """Copy ``tables`` of the database file ``live`` into a new database at ``path``."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}", uri=True, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # the caller fsyncs and reads back
        # no -journal beside the .partial: a failed or killed dump is discarded
        db.execute("PRAGMA main.journal_mode=OFF")
        db.execute("ATTACH DATABASE ? AS live", [live.resolve().as_uri() + "?mode=ro"])
        db.execute("BEGIN")  # one read transaction of the live database
        _copy_tables(db, "live", "main", tables)
        db.execute("COMMIT")
        db.execute("DETACH DATABASE live")
        db.execute("PRAGMA journal_mode=DELETE")  # no WAL beside the backup
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {live} failed: {exc}") from exc
    finally:
        db.close()


def problems(live: Path, tables: Sequence[str]) -> list[str]:
    """Virtual tables (FTS and the like) and their shadow tables are filled by
    their module: copying their rows table by table is not restoring them."""
    db = sqlite3.connect(live.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        virtual = [
            name
            for name, sql in db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
            )
        ]
    finally:
        db.close()
    touched = [
        t for t in tables if any(t == v or t.startswith(v + "_") for v in virtual)
    ]
    return [f"table {t} belongs to a virtual table" for t in touched]


def restore_tables(live: Path, path: Path, scope: TableScope) -> None:
    """Replace the scope's tables of ``live`` with those of the backup at ``path``."""
    db = sqlite3.connect(live.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction
        db.execute(
            "ATTACH DATABASE ? AS backup", [path.resolve().as_uri() + "?mode=ro"]
        )
        db.execute("BEGIN IMMEDIATE")
        try:
            _replace(db, scope)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise BackupError(f"Restoring {live} from {path} failed: {exc}") from exc
    finally:
        db.close()


def _replace(db: sqlite3.Connection, scope: TableScope) -> None:
    present = {
        row[0]
        for row in db.execute(
            f"SELECT name FROM main.sqlite_master WHERE type = 'table' "
            f"AND name IN ({_marks(scope.planned)})",
            list(scope.planned),
        )
    }
    for table in sorted(present):
        db.execute(f"DROP TABLE main.{_quote(table)}")
    if _has_sequence(db, "main"):
        db.execute(
            f"DELETE FROM main.sqlite_sequence WHERE name IN ({_marks(scope.planned)})",
            list(scope.planned),
        )
    _copy_tables(db, "backup", "main", scope.present)
    planned = set(scope.planned)
    broken = [
        row
        for row in db.execute("PRAGMA main.foreign_key_check").fetchall()
        if row[0] in planned or row[2] in planned  # not what was broken before
    ]
    if broken:
        shown = ", ".join(f"{row[0]} row {row[1]} -> {row[2]}" for row in broken[:5])
        raise BackupError(
            f"the restored tables break foreign keys of the database ({shown}); "
            "nothing was changed."
        )
