"""Plan-scoped PostgreSQL backups: which tables, what else a restore would
touch, and the restore itself in one transaction.

A scoped dump is ``pg_dump`` with one exact ``--table`` per table of the
scope (:func:`table_arguments`): the table's definition, data, indexes,
constraints, triggers, rules, policies and the sequences its columns own
(serial and identity) come along.

A scoped restore replaces those tables and nothing else
(:func:`load`): one ``psql`` session, one transaction, fed by Python::

    BEGIN;
    DROP TABLE IF EXISTS <the scope's tables that exist now> CASCADE;
    <pg_restore --file=- of the archive: CREATE, COPY, indexes, constraints>
    ALTER TABLE <outside> ADD CONSTRAINT <each outside foreign key into the scope>;
    COMMIT;

``CASCADE`` drops what depends on those tables. The foreign keys of other
tables pointing into the scope are put back before the commit (and checked
against the rows, so an outside row whose target the backup lacks makes the
restore fail, rolled back); anything else ``CASCADE`` would drop (a view, a
rule, a column of the table's row type...) makes the scope unrestorable
alone, and :func:`scope_problems` names it, before the backup is taken (the
backup is then of the whole database) and again before a restore. ``COMMIT``
is written only once ``pg_restore`` has written the whole archive: a
restore cut anywhere (a killed process, a broken pipe, a failed statement)
is rolled back by the server, and the database stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup import process, relations
from migration_guard.backup.base import BackupError

#: a catalog query: the scope's tables visible under ``search_path``
_VISIBLE = """
SELECT c.relname, n.nspname, c.oid
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p')
   AND pg_catalog.pg_table_is_visible(c.oid)
"""

#: What depends on the scope's tables (``%(oids)s``), recursively, as
#: ``DROP ... CASCADE`` would find it. ``inside``: reached from a table only
#: through automatic/internal dependencies, by objects pg_dump dumps with
#: their table (indexes, sequences, constraints, triggers, rules, policies,
#: defaults, row types); an outside foreign key into the scope is put back
#: by the restore, and not followed (if its table is visible under
#: ``search_path``, as the recorded relations are: :mod:`relations`).
#: Whatever remains would be dropped for good.
_DEPENDENTS = """
WITH RECURSIVE walk(classid, objid, objsubid, root, inside) AS (
    SELECT 'pg_catalog.pg_class'::regclass::oid, c.oid, 0, c.oid, true
      FROM pg_catalog.pg_class c WHERE c.oid = ANY(%(oids)s::oid[])
  UNION
    SELECT d.classid, d.objid, d.objsubid, w.root,
           w.inside AND d.deptype IN ('a', 'i')
           AND d.classid IN (
               'pg_catalog.pg_class'::regclass, 'pg_catalog.pg_type'::regclass,
               'pg_catalog.pg_attrdef'::regclass,
               'pg_catalog.pg_constraint'::regclass,
               'pg_catalog.pg_trigger'::regclass, 'pg_catalog.pg_rewrite'::regclass,
               'pg_catalog.pg_policy'::regclass)
           AND NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_class r
                WHERE d.classid = 'pg_catalog.pg_class'::regclass
                  AND r.oid = d.objid AND r.relkind IN ('r', 'p', 'v', 'm', 'f'))
      FROM walk w
      JOIN pg_catalog.pg_depend d
        ON d.refclassid = w.classid AND d.refobjid = w.objid
     WHERE d.deptype IN ('n', 'a', 'i')
       AND NOT (w.classid = 'pg_catalog.pg_constraint'::regclass AND EXISTS (
           SELECT 1 FROM pg_catalog.pg_constraint k
            WHERE k.oid = w.objid AND k.contype = 'f'
              AND NOT k.conrelid = ANY(%(oids)s::oid[])
              AND pg_catalog.pg_table_is_visible(k.conrelid)))
)
SELECT min(w.root::regclass::text),
       CASE WHEN r.rulename = '_RETURN'
            THEN pg_catalog.pg_describe_object(
                     'pg_catalog.pg_class'::regclass, r.ev_class, 0)
            ELSE pg_catalog.pg_describe_object(w.classid, w.objid, w.objsubid)
       END
  FROM walk w
  LEFT JOIN pg_catalog.pg_rewrite r
    ON w.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = w.objid
  LEFT JOIN pg_catalog.pg_constraint k
    ON w.classid = 'pg_catalog.pg_constraint'::regclass AND k.oid = w.objid
 GROUP BY w.classid, w.objid, w.objsubid, r.rulename, r.ev_class
HAVING NOT bool_or(w.inside)
   AND NOT coalesce(
       bool_or(k.contype = 'f' AND NOT k.conrelid = ANY(%(oids)s::oid[])
               AND pg_catalog.pg_table_is_visible(k.conrelid)), false)
 ORDER BY 2
"""


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (and an exact pg_dump pattern part)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a SQL string literal (``standard_conforming_strings`` on)."""
    return "'" + value.replace("'", "''") + "'"


def visible(
    connection: BaseDatabaseWrapper, tables: Sequence[str]
) -> dict[str, tuple[str, int]]:
    """``{table: (schema, oid)}`` of those of ``tables`` that exist, in the
    schema where ``search_path`` finds them (as Django's queries do)."""
    with connection.cursor() as cursor:
        cursor.execute(_VISIBLE, [list(tables)])
        return {name: (schema, int(oid)) for name, schema, oid in cursor.fetchall()}


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def table_arguments(
    connection: BaseDatabaseWrapper, tables: Sequence[str], database: str
) -> list[str]:
    """``--table="schema"."name"`` for each of ``tables``, and ``--strict-names``.

    Quoted, each pattern matches that one table only (``*``, ``?``, ``.``,
    upper case and ``"`` are taken literally); ``--strict-names`` makes
    pg_dump fail rather than skip a pattern that matches nothing. BackupError
    when a table does not exist.
    """
    found = visible(connection, tables)
    missing = sorted(set(tables) - set(found))
    if missing:
        raise BackupError(
            f"Cannot back up the plan's tables of database {database!r}: "
            f"{', '.join(missing)} not found (under its search_path)."
        )
    names = [qualified(found[t][0], t) for t in sorted(set(tables))]
    return ["--strict-names", *(f"--table={name}" for name in names)]


def scope_problems(connection: BaseDatabaseWrapper, tables: Sequence[str]) -> list[str]:
    """What ``DROP TABLE ... CASCADE`` of ``tables`` would drop and a scoped
    restore could not put back, one message each."""
    oids = [oid for _, oid in visible(connection, tables).values()]
    if not oids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_DEPENDENTS, {"oids": oids})
        rows = cursor.fetchall()
    return [
        f"{what} depends on table {root}, and a restore of the plan's tables "
        "alone would drop it"
        for root, what in rows
    ]


def _statements(
    connection: BaseDatabaseWrapper, planned: Sequence[str], present: Sequence[str]
) -> tuple[str, str]:
    """The SQL before the archive (the drops) and after it (the outside
    foreign keys into the scope, as the catalog defines them now)."""
    now = visible(connection, planned)
    drops = [qualified(schema, table) for table, (schema, _) in sorted(now.items())]
    inside = set(planned)
    keys = [
        r
        for r in relations.outside(connection, planned)
        if r["table"] not in inside and r["referenced_table"] in set(present)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_catalog.current_setting('search_path')")
        search_path = str(cursor.fetchone()[0])
    before = "SET client_min_messages = warning;\n"
    if drops:
        before += f"DROP TABLE IF EXISTS {', '.join(drops)} CASCADE;\n"
    after = (
        f"SELECT pg_catalog.set_config('search_path', {quote_literal(search_path)}, "
        "false);\n"
    )
    after += "".join(
        f"ALTER TABLE {quote_ident(r['table'])} ADD CONSTRAINT "
        f"{quote_ident(r['name'])} {r['definition']};\n"
        for r in keys
    )
    return before, after


def script(
    connection: BaseDatabaseWrapper,
    planned: Sequence[str],
    present: Sequence[str],
    role: str | None,
) -> tuple[bytes, bytes]:
    """What :func:`load` writes to psql around the archive's SQL."""
    before, after = _statements(connection, planned, present)
    if role:
        before = f"SET ROLE {quote_ident(role)};\n" + before
    return ("BEGIN;\n" + before).encode(), (after + "COMMIT;\n").encode()


def load(
    restore_argv: Sequence[str],
    psql_argv: Sequence[str],
    around: tuple[bytes, bytes],
    *,
    env: Mapping[str, str],
    secrets: Sequence[str],
) -> None:
    """Run ``pg_restore --file=-`` (``restore_argv``) into ``psql`` between
    ``around``'s two parts; ProcessError (rolled back) when anything fails.

    ``COMMIT`` (the end of the second part) is written only after pg_restore
    exited successfully; otherwise psql's input ends inside the transaction
    and the server rolls it back.
    """
    with _running(restore_argv, {}) as (archive, restored):
        with _running(psql_argv, env, stdin=True, secrets=secrets) as (sink, loaded):
            try:
                sink.write(around[0])
                while chunk := archive.read(process.CHUNK):
                    sink.write(chunk)
                restored.join()
                if not restored.failure:
                    sink.write(around[1])
            except BrokenPipeError:  # psql stopped: its status says why
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    sink.close()
            loaded.join()
        archive.close()
        restored.join()
    for outcome in (loaded, restored):
        if outcome.failure is not None:
            raise outcome.failure


class _Outcome(threading.Thread):
    """A client run in a thread, its failure kept for the caller."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], **io: Any) -> None:
        super().__init__(daemon=True)
        self.argv, self.env, self.io = list(argv), env, io
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            process.run(self.argv, env=self.env, **self.io)
        except BaseException as exc:  # reported by the caller
            self.failure = exc
        finally:
            for handle in self.io.values():
                if hasattr(handle, "close"):
                    handle.close()


@contextlib.contextmanager
def _running(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: bool = False,
    secrets: Sequence[str] = (),
) -> Iterator[tuple[IO[bytes], _Outcome]]:
    """A client in a thread, with our end of its stdin (``stdin``) or stdout."""
    read, write = os.pipe()
    theirs = os.fdopen(read if stdin else write, "rb" if stdin else "wb")
    ours = os.fdopen(write if stdin else read, "wb" if stdin else "rb")
    io: dict[str, Any] = {"stdin" if stdin else "stdout": theirs}
    if secrets:
        io["secrets"] = secrets
    outcome = _Outcome(argv, env, **io)
    outcome.start()
    try:
        yield ours, outcome
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            ours.close()
        outcome.join()


def restore_error(path: Path, database: str, exc: process.ProcessError) -> BackupError:
    return BackupError(
        f"The restore of the plan's tables from {path} into database "
        f"{database!r} failed and was rolled back (one transaction), nothing "
        f"changed: {exc.stderr or exc}"
    )
