"""The PostgreSQL backup backend against a real server and the real clients.

Every test gets a fresh database (the ``database`` fixture) as Django's
default alias. The comparisons are logical: ``pg_dump --schema-only`` text,
every row of every table as text in a stable order, and every sequence's
state, before the backup and after the restore.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, transaction

from migration_guard.backup import catalog, pg_archive, pg_cleanup
from migration_guard.backup import pg_client as clients
from migration_guard.backup.base import BackupError, backend_for
from migration_guard.backup.postgresql import PostgreSQLBackend
from migration_guard.backup.storage import get_store
from tests import backends
from tests.conftest import Database

pytestmark = pytest.mark.backends("postgresql")

PASSWORD = "S3cr3t:pa\\ss"  # a colon and a backslash: both escaped in the file
PASSFILE_LINE = "*:*:*:{user}:S3cr3t\\:pa\\\\ss\n"

TYPES_SQL = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE sm_types (
    id serial PRIMARY KEY,
    label text,
    data bytea,
    doc jsonb,
    amount numeric(30, 10),
    day date,
    at timestamptz,
    naive timestamp,
    feeling mood,
    tags text[],
    obsolete integer
);
INSERT INTO sm_types (label, data, doc, amount, day, at, naive, feeling, tags,
                      obsolete)
VALUES
    ('Zoë 🎉 ß 日本語 "quoted" \\ back', '\\x00ff0a0d5c27'::bytea,
     '{"a": [1, 2.5, null, true], "é": {"nested": "ünïcode"}}',
     12345678901234567890.0123456789, '2024-02-29',
     '2024-03-31 02:30:00+02', '1999-12-31 23:59:59.999999', 'happy',
     ARRAY['x', 'y z', NULL], 1),
    (E'tab\\there\\nnewline', '\\x'::bytea, '[]', -0.0000000001, '0001-01-01',
     'infinity', '2038-01-19 03:14:08', 'sad', '{}', 2),
    (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE sm_child (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id integer NOT NULL REFERENCES sm_types (id),
    note text NOT NULL
);
INSERT INTO sm_child (parent_id, note)
SELECT 1 + i % 3, repeat(md5(i::text), 3) FROM generate_series(1, 500) AS i;
CREATE INDEX sm_child_note ON sm_child (note);
CREATE VIEW sm_view AS SELECT id, label FROM sm_types WHERE id > 1;
CREATE TABLE sm_kind (id integer PRIMARY KEY);
INSERT INTO sm_kind VALUES (1), (2);
CREATE FUNCTION sm_add(a integer, b integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE SCHEMA "odd schema";
CREATE TABLE "odd schema"."odd table" (id integer PRIMARY KEY, "odd col" text);
INSERT INTO "odd schema"."odd table" VALUES (1, 'one');
CREATE SEQUENCE sm_counter;
SELECT setval('sm_counter', 41);
"""

#: After the backup: data and schema changes, as a failed migration leaves.
CHANGES_SQL = """
INSERT INTO sm_types (label) VALUES ('added after the backup');
DELETE FROM sm_child WHERE id % 2 = 0;
UPDATE sm_types SET label = 'changed' WHERE id = 1;
UPDATE "odd schema"."odd table" SET "odd col" = 'uno';
ALTER TABLE sm_types DROP COLUMN obsolete;
ALTER TABLE sm_types ADD COLUMN added integer DEFAULT 7;
ALTER TYPE mood ADD VALUE 'meh';
CREATE TABLE sm_new (
    id serial PRIMARY KEY,
    types_id integer REFERENCES sm_types (id),
    child_id bigint REFERENCES sm_child (id)
);
INSERT INTO sm_new (types_id, child_id) VALUES (1, 1);
CREATE VIEW sm_new_view AS
    SELECT sm_new.id, sm_view.label FROM sm_new JOIN sm_view ON sm_view.id = types_id;
CREATE MATERIALIZED VIEW sm_new_mat AS SELECT count(*) AS n FROM sm_child;
DROP TABLE sm_kind;
CREATE VIEW sm_kind AS SELECT 1 AS id;
CREATE TYPE sm_new_enum AS ENUM ('a');
CREATE DOMAIN sm_new_domain AS integer CHECK (VALUE > 0);
CREATE FUNCTION sm_new_function(x sm_new_domain) RETURNS integer
    LANGUAGE sql AS 'SELECT 1';
CREATE PROCEDURE sm_new_procedure() LANGUAGE sql AS 'SELECT 1';
CREATE SEQUENCE sm_new_sequence;
SELECT nextval('sm_counter');
CREATE SCHEMA sm_new_schema;
CREATE TABLE sm_new_schema.t (id integer REFERENCES sm_types (id));
CREATE TABLE "odd schema"."odd new" (id integer);
CREATE EXTENSION IF NOT EXISTS pg_trgm;
"""


def backend() -> PostgreSQLBackend:
    found = backend_for(connections["default"])
    assert isinstance(found, PostgreSQLBackend)
    return found


def execute(database: Database, sql: str) -> None:
    with database.connection.cursor() as cursor:
        cursor.execute(sql)


def pg_client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, check=False, timeout=120
    )


@dataclass
class Snapshot:
    """A database's content, logically: schema text, rows, sequences."""

    schema: str
    rows: dict[str, list[str]]
    sequences: dict[str, tuple[int, bool]]


def snapshot(database: Database) -> Snapshot:
    dumped = pg_client(
        "pg_dump", "--schema-only", "--no-password", f"--dbname={database.url}"
    )
    assert dumped.returncode == 0, dumped.stderr
    relations = database.query(
        """
        SELECT c.oid::regclass::text, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'S', 'm') AND n.nspname <> 'information_schema'
          AND n.nspname !~ '^pg_'
        ORDER BY 1
        """
    )
    rows: dict[str, list[str]] = {}
    sequences: dict[str, tuple[int, bool]] = {}
    for name, kind in relations:
        if kind == "S":
            value, called = database.query(f"SELECT last_value, is_called FROM {name}")[
                0
            ]
            sequences[name] = (value, called)
        else:
            rows[name] = [r for (r,) in database.query(f"SELECT x::text FROM {name} x")]
            rows[name].sort()
    # pg_dump >= 15.14 brackets scripts with \restrict/\unrestrict random keys
    schema = "\n".join(
        line
        for line in dumped.stdout.splitlines()
        if not line.startswith(("\\restrict ", "\\unrestrict "))
    )
    return Snapshot(schema, rows, sequences)


def relation_exists(database: Database, name: str) -> bool:
    return database.query("SELECT to_regclass(%s)", [name])[0][0] is not None


@pytest.fixture
def populated(database: Database) -> Database:
    execute(database, TYPES_SQL)
    return database


@pytest.fixture
def dump_path(tmp_path: Path) -> Path:
    return tmp_path / "backup.dump"


# -- dump, verify, restore ---------------------------------------------------


def test_dump_verify_restore_round_trip(populated: Database, dump_path: Path) -> None:
    before = snapshot(populated)
    assert before.rows['"odd schema"."odd table"'] == ["(1,one)"]
    assert len(before.rows["sm_child"]) == 500
    assert before.sequences["sm_counter"] == (41, True)

    pg = backend()
    pg.dump(dump_path)
    assert dump_path.read_bytes()[:5] == b"PGDMP"
    pg.verify(dump_path)

    execute(populated, CHANGES_SQL)
    changed = snapshot(populated)
    assert changed.rows != before.rows and changed.schema != before.schema

    progress: list[int] = []
    pg.restore(dump_path, progress.append)
    assert progress == [dump_path.stat().st_size]

    after = snapshot(populated)
    assert after.schema == before.schema
    assert after.rows == before.rows
    assert after.sequences == before.sequences
    for gone in ("sm_new", "sm_new_view", "sm_new_mat", "sm_new_sequence",
                 "sm_new_schema.t", '"odd schema"."odd new"'):  # fmt: skip
        assert not relation_exists(populated, gone), gone
    leftovers = populated.query(
        """
        SELECT 'type ' || typname FROM pg_type
        WHERE typname IN ('sm_new_enum', 'sm_new_domain')
        UNION ALL SELECT 'routine ' || proname FROM pg_proc
        WHERE proname IN ('sm_new_function', 'sm_new_procedure')
        UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
        WHERE nspname = 'sm_new_schema'
        UNION ALL SELECT 'extension ' || extname FROM pg_extension
        WHERE extname = 'pg_trgm'
        """
    )
    assert leftovers == []
    # the enum lost the value added after the backup; the table is a table again
    assert populated.query("SELECT enum_range(NULL::mood)::text") == [
        ("{sad,ok,happy}",)
    ]
    assert populated.query(
        "SELECT relkind FROM pg_class WHERE relname = 'sm_kind'"
    ) == [("r",)]
    # the backup is still valid and a second restore is a no-op
    pg.restore(dump_path)
    assert snapshot(populated) == before


def test_restore_keeps_objects_of_the_archive(
    populated: Database, dump_path: Path
) -> None:
    """Only objects the archive lacks are dropped before pg_restore runs."""
    pg = backend()
    pg.dump(dump_path)
    toc = subprocess.run(
        ["pg_restore", "--list", str(dump_path)], capture_output=True, text=True
    ).stdout
    archived = pg_archive.archived_objects(toc)
    assert "public sm_types" in archived["TABLE"]
    assert "odd schema odd table" in archived["TABLE"]
    assert "public sm_add(integer, integer)" in archived["FUNCTION"]
    assert "- odd schema" in archived["SCHEMA"]
    assert pg_cleanup.extra_objects(pg.connection, archived) == []

    execute(populated, CHANGES_SQL)
    drops = pg_cleanup.extra_objects(pg.connection, archived)
    assert drops == [
        'DROP TABLE IF EXISTS "odd schema"."odd new" CASCADE',
        "DROP VIEW IF EXISTS public.sm_kind CASCADE",
        "DROP TABLE IF EXISTS public.sm_new CASCADE",
        "DROP MATERIALIZED VIEW IF EXISTS public.sm_new_mat CASCADE",
        "DROP SEQUENCE IF EXISTS public.sm_new_sequence CASCADE",
        "DROP VIEW IF EXISTS public.sm_new_view CASCADE",
        "DROP TABLE IF EXISTS sm_new_schema.t CASCADE",
        "DROP FUNCTION IF EXISTS public.sm_new_function(public.sm_new_domain) CASCADE",
        "DROP PROCEDURE IF EXISTS public.sm_new_procedure() CASCADE",
        "DROP DOMAIN IF EXISTS public.sm_new_domain CASCADE",
        "DROP TYPE IF EXISTS public.sm_new_enum CASCADE",
        "DROP SCHEMA IF EXISTS sm_new_schema CASCADE",
        "DROP EXTENSION IF EXISTS pg_trgm CASCADE",
    ]


def test_restore_fails_on_sql_error_and_rolls_back(
    make_database: Callable[..., Database], dump_path: Path
) -> None:
    """An archive owned by a role that is gone: the error, then --no-owner."""
    database = make_database()
    role = backends.unique_name("sm_owner")
    server = backends.server("postgresql")
    server.execute(f"CREATE ROLE {role}")
    try:
        execute(
            database,
            f"CREATE TABLE owned (id integer); ALTER TABLE owned OWNER TO {role}",
        )
        execute(database, "INSERT INTO owned VALUES (1)")
        pg = backend()
        pg.dump(dump_path)
        execute(
            database,
            f"INSERT INTO owned VALUES (2); REASSIGN OWNED BY {role} TO CURRENT_USER",
        )
        server.execute(f"DROP ROLE {role}")

        with pytest.raises(BackupError) as caught:
            pg.restore(dump_path)
        message = str(caught.value)
        assert message.startswith(
            f"pg_restore of {dump_path} into database '{database.name}' failed "
            "(rolled back): pg_restore: error: could not execute query: ERROR:  "
            f'role "{role}" does not exist'
        )
        assert "no_owner" not in message
        assert database.query("SELECT id FROM owned ORDER BY id") == [(1,), (2,)]

        pg.restore(dump_path, no_owner=True, no_privileges=True)
        assert database.query("SELECT id FROM owned") == [(1,)]
    finally:
        server.execute(f"DROP ROLE IF EXISTS {role}")


def test_restore_inside_a_transaction_is_refused(
    populated: Database, dump_path: Path
) -> None:
    pg = backend()
    pg.dump(dump_path)
    with transaction.atomic(), pytest.raises(BackupError) as caught:
        pg.restore(dump_path)
    assert "inside a transaction" in str(caught.value)


def test_dump_of_a_database_with_an_awkward_name(
    make_database: Callable[..., Database], dump_path: Path
) -> None:
    """A name with ``=``, quotes and a leading ``-`` is a name, not an option."""
    database = make_database()
    odd = f"-{database.name} x=y 'q' \\"
    server = backends.server("postgresql")
    server.create(odd)
    try:
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = odd
        execute(database, "CREATE TABLE t (v text); INSERT INTO t VALUES ('odd')")
        pg = backend()
        pg.dump(dump_path)
        pg.verify(dump_path)
        execute(database, "DROP TABLE t; CREATE TABLE extra (id integer)")
        pg.restore(dump_path)
        assert database.query("SELECT v FROM t") == [("odd",)]
        assert database.query("SELECT to_regclass('extra')") == [(None,)]
    finally:
        connections["default"].close()
        server.drop(odd)


# -- verify ----------------------------------------------------------------


@pytest.fixture
def big_dump(database: Database, dump_path: Path) -> Path:
    """A dump with many data blocks of several tables."""
    execute(
        database,
        """
        CREATE TABLE a (id integer PRIMARY KEY, t text);
        INSERT INTO a SELECT i, md5(i::text) || repeat('x', i % 50)
        FROM generate_series(1, 60000) AS i;
        CREATE TABLE b (id integer PRIMARY KEY, j jsonb);
        INSERT INTO b SELECT i, jsonb_build_object('i', i, 'r', md5((i * 3)::text))
        FROM generate_series(1, 30000) AS i;
        """,
    )
    backend().dump(dump_path)
    return dump_path


@pytest.mark.parametrize(
    "cut", [lambda size: size // 2, lambda size: size - 100, lambda size: size - 1]
)
def test_verify_rejects_a_truncated_dump(
    big_dump: Path, tmp_path: Path, cut: Callable[[int], int]
) -> None:
    data = big_dump.read_bytes()
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(data[: cut(len(data))])

    with pytest.raises(BackupError) as caught:
        backend().verify(truncated)
    assert str(caught.value) == (
        f"{truncated} is not a complete pg_dump custom-format archive: "
        "pg_restore: error: could not read from input file: end of file"
    )


def test_a_truncated_dump_passes_pg_restore_list(
    big_dump: Path, tmp_path: Path
) -> None:
    """Why verify does not use ``--list``: the table of contents comes first."""
    data = big_dump.read_bytes()
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(data[: len(data) // 2])
    listed = pg_client("pg_restore", "--list", str(truncated))
    assert listed.returncode == 0, listed.stderr
    assert "TABLE DATA public b" in listed.stdout
    backend().verify(big_dump)  # the complete file passes


def decodes(argvs: list[list[str]]) -> list[list[str]]:
    """The pg_restore runs that decode an archive (not --version)."""
    return [
        a for a in argvs if Path(a[0]).name == "pg_restore" and "--version" not in a
    ]


def test_a_backup_decodes_its_archive_once(
    big_dump: Path, argvs: list[list[str]]
) -> None:
    """The stream check counts the rows: no second decode of the file.

    It used to decode the dump as it streamed (to /dev/null), then decode the
    file again for the rows (28% of a 300 MiB backup, bench/backup_paths.py).
    """
    argvs.clear()
    manifest = catalog.create_backup("default", reason="manual")
    dumps = [a for a in argvs if Path(a[0]).name == "pg_dump" and "--version" not in a]
    assert len(dumps) == 1
    # one decode, of the stream (no file argument): the check and the count
    assert decodes(argvs) == [[decodes(argvs)[0][0], "--file=-"]]
    assert manifest.rows["public.a"] == 60000
    assert manifest.rows["public.b"] == 30000
    # what a full decode of the stored file finds, read from the disk
    stored = Path(get_store().location(manifest))
    argvs.clear()
    assert backend().check_content(stored) == manifest.rows
    assert len(decodes(argvs)) == 1


def test_rows_counted_while_dumping_are_those_of_the_same_file_only(
    database: Database, dump_path: Path, argvs: list[list[str]]
) -> None:
    execute(
        database,
        "CREATE TABLE a (id integer PRIMARY KEY, t text); "
        "INSERT INTO a SELECT i, md5(i::text) FROM generate_series(1, 20000) AS i;",
    )
    pg = backend()
    pg.dump(dump_path)
    argvs.clear()
    assert pg.read_rows(dump_path)["public.a"] == 20000
    assert decodes(argvs) == []  # counted while it streamed
    data = dump_path.read_bytes()
    dump_path.unlink()
    dump_path.write_bytes(data[: len(data) // 2])  # another file at the path
    with pytest.raises(BackupError, match="is not a complete pg_dump"):
        pg.read_rows(dump_path)
    assert len(decodes(argvs)) == 1


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_verify_rejects_altered_bytes(
    big_dump: Path, tmp_path: Path, where: float
) -> None:
    data = bytearray(big_dump.read_bytes())
    middle = int(len(data) * where)
    for offset in range(middle, middle + 4):
        data[offset] ^= 0x5A
    altered = tmp_path / "altered.dump"
    altered.write_bytes(bytes(data))

    with pytest.raises(BackupError) as caught:
        backend().verify(altered)
    message = str(caught.value)
    assert message.startswith(
        f"{altered} is not a complete pg_dump custom-format archive: "
        "pg_restore: error: "
    )
    assert "could not uncompress data" in message or "could not read" in message


def test_verify_rejects_other_files(database: Database, tmp_path: Path) -> None:
    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    text = tmp_path / "plain.sql"
    text.write_text("-- PostgreSQL database dump\nCREATE TABLE t ();\n")
    for path in (empty, text):
        with pytest.raises(BackupError) as caught:
            backend().verify(path)
        assert str(caught.value) == (
            f"{path} is not a pg_dump custom-format archive (it does not start "
            "with PGDMP)."
        )
    with pytest.raises(BackupError, match=r"Cannot read backup .*missing\.dump"):
        backend().verify(tmp_path / "missing.dump")


# -- secrets -----------------------------------------------------------------


@dataclass
class Spawned:
    argv: list[str]
    env: dict[str, str]
    passfile: str | None = None
    passfile_mode: int | None = None
    passfile_text: str | None = None


@dataclass
class Spy:
    calls: list[Spawned] = field(default_factory=list)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    """Record argv, env and the password file of every child process."""
    recorder = Spy()
    real = subprocess.Popen

    class Recording(real):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            env = dict(kwargs.get("env") or os.environ)
            call = Spawned([str(a) for a in args], env)
            passfile = env.get("PGPASSFILE")
            if passfile and os.path.exists(passfile):
                call.passfile = passfile
                call.passfile_mode = stat.S_IMODE(os.stat(passfile).st_mode)
                call.passfile_text = Path(passfile).read_text()
            recorder.calls.append(call)
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    yield recorder


def test_password_never_in_argv_nor_messages(
    populated: Database, dump_path: Path, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = backends.unique_name("sm_pw")
    server = backends.server("postgresql")
    escaped = PASSWORD.replace("'", "''")
    server.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{escaped}'")
    monkeypatch.setenv("PGPASSWORD", "inherited-and-wrong")
    settings = connections["default"].settings_dict
    try:
        connections["default"].close()
        settings.update(USER=role, PASSWORD=PASSWORD)
        settings["OPTIONS"] = {
            "sslmode": "disable",
            "application_name": "sm-backup-test",
            "keepalives": 1,
        }
        pg = backend()
        assert pg.problems() == []
        pg.dump(dump_path)
        pg.verify(dump_path)
        execute(populated, "CREATE TABLE sm_extra (id integer)")
        pg.restore(dump_path)
        assert not relation_exists(populated, "sm_extra")

        # a failure whose stderr repeats the password: it is redacted
        connections["default"].close()
        settings["OPTIONS"] = {
            "options": "-c lock_timeout=" + PASSWORD.replace("\\", "\\\\")
        }
        with pytest.raises(BackupError) as caught:
            pg.dump(dump_path)
        message = str(caught.value)
        assert PASSWORD not in message
        assert message == (
            f"pg_dump of database '{populated.name}' failed: pg_dump: error: "
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  invalid '
            'value for parameter "lock_timeout": "********"'
        )
        # and a database that does not exist
        settings["OPTIONS"] = {}
        settings["NAME"] = "sm_no_such_database"
        with pytest.raises(BackupError) as caught:
            pg.dump(dump_path)
        assert str(caught.value) == (
            "pg_dump of database 'sm_no_such_database' failed: pg_dump: error: "
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
            'database "sm_no_such_database" does not exist'
        )
    finally:
        connections["default"].close()
        settings.update(NAME=populated.name, USER=server.user, PASSWORD=server.password)
        settings["OPTIONS"] = {}
        execute(populated, f"REASSIGN OWNED BY {role} TO CURRENT_USER")
        execute(populated, f"DROP OWNED BY {role}")
        connections["default"].close()
        server.execute(f"DROP ROLE IF EXISTS {role}")

    connecting = [c for c in spy.calls if "--no-password" in c.argv]
    # pg_dump, pg_restore --clean, and the two failed pg_dumps
    assert [Path(c.argv[0]).name for c in connecting] == [
        "pg_dump", "pg_restore", "pg_dump", "pg_dump"
    ]  # fmt: skip
    assert len(spy.calls) >= 7  # + --version x2, verify x2, --list
    for call in spy.calls:
        assert not any(PASSWORD in arg or "S3cr3t" in arg for arg in call.argv)
        assert PASSWORD not in call.env.get("PGPASSWORD", "")
    for call in connecting:
        assert call.passfile_mode == 0o600
        assert call.passfile_text == PASSFILE_LINE.format(user=role)
        assert call.env["PGPASSWORD"] == ""  # libpq would prefer it to the file
        assert f"--username={role}" in call.argv
        assert call.passfile is not None and not os.path.exists(call.passfile)
    dump = connecting[0]
    assert dump.env["PGSSLMODE"] == "disable"
    assert dump.env["PGAPPNAME"] == "sm-backup-test"
    assert dump.argv[-1] == f"--dbname=dbname='{populated.name}' keepalives='1'"
    assert dump.argv[1:3] == ["--format=custom", "--compress=1"]
    assert not any(arg.startswith("--file=") for arg in dump.argv)  # to a pipe
    assert connecting[2].env["PGOPTIONS"].startswith("-c lock_timeout=")
    assert connecting[3].argv[-1] == "--dbname=dbname='sm_no_such_database'"
    restore = connecting[1]
    assert restore.argv[1:6] == [
        "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
        "--no-password",
    ]  # fmt: skip
    assert restore.argv[-1] == str(dump_path)


def test_passfile_escaping() -> None:
    assert clients.passfile_field("a:b\\c") == "a\\:b\\\\c"
    assert clients.conninfo_value("it's a \\ name") == "'it\\'s a \\\\ name'"
    with pytest.raises(BackupError, match="line break"):
        clients.passfile_field("two\nlines")


# -- problems and versions ---------------------------------------------------


def server_major(database: Database) -> int:
    return int(database.query("SHOW server_version_num")[0][0]) // 10000


def fake_client(directory: Path, name: str, version: str) -> Path:
    """A client that prints ``version`` and counts its runs in ``<name>.runs``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(
        "#!/bin/sh\n"
        f'echo run >> "{directory / (name + ".runs")}"\n'
        f'echo "{name} (PostgreSQL) {version}"\n'
    )
    script.chmod(0o755)
    return script


def test_versions_and_no_problems(database: Database) -> None:
    pg = backend()
    assert pg.problems() == []
    server = database.query("SHOW server_version")[0][0].split()[0]
    client = pg_client("pg_dump", "--version").stdout.split()[2]
    assert pg.versions() == {"server": server, "client": client}


def test_problems_missing_binaries(database: Database, settings: Any) -> None:
    settings.MIGRATION_GUARD = {"DUMP_COMMANDS": {"postgresql": "/nonexistent/pg_dump"}}
    assert backend().missing_tools() == [
        "/nonexistent/pg_dump",
        "/nonexistent/pg_restore",
    ]
    assert backend().problems() == [
        "pg_dump not found or not executable at /nonexistent/pg_dump (from "
        "MIGRATION_GUARD['DUMP_COMMANDS']['postgresql'])",
        "pg_restore not found or not executable at /nonexistent/pg_restore (from "
        "the directory of MIGRATION_GUARD['DUMP_COMMANDS']['postgresql'])",
    ]


def test_problems_missing_from_path(
    database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    problems = backend().problems()
    assert len(problems) == 2
    assert problems[0].startswith("pg_dump is not installed or not on PATH: install")
    assert problems[1].startswith("pg_restore is not installed or not on PATH")


def test_problems_server_unreachable(database: Database) -> None:
    connections["default"].close()
    connections["default"].settings_dict["PORT"] = "1"
    try:
        problems = backend().problems()
    finally:
        connections["default"].settings_dict["PORT"] = str(database.server.port)
    assert len(problems) == 1
    assert problems[0].startswith(
        "Cannot read the version of the PostgreSQL server of database "
        f"'{database.name}': connection to server at \"127.0.0.1\", port 1 failed"
    )


def test_verify_without_pg_restore(
    database: Database, settings: Any, tmp_path: Path
) -> None:
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP" + bytes(100))
    settings.MIGRATION_GUARD = {"DUMP_COMMANDS": {"postgresql": "/nonexistent/pg_dump"}}
    with pytest.raises(BackupError) as caught:
        backend().verify(dump)
    assert str(caught.value) == (
        f"Cannot verify {dump}: /nonexistent/pg_restore is not installed or not on PATH"
    )


def test_problems_client_older_than_server(
    database: Database, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    major = server_major(database)
    bin_dir = tmp_path / "bin"
    pg_dump = fake_client(bin_dir, "pg_dump", "12.3")
    restore = shutil.which("pg_restore")
    assert restore is not None
    (bin_dir / "pg_restore").symlink_to(restore)
    settings.MIGRATION_GUARD = {"DUMP_COMMANDS": {"postgresql": str(pg_dump)}}

    installed = tmp_path / "usr" / str(major) / "bin" / "pg_dump"
    fake_client(installed.parent, "pg_dump", f"{major}.1")
    fake_client(tmp_path / "usr" / "11" / "bin", "pg_dump", "11.1")
    monkeypatch.setattr(
        clients, "INSTALLED_CLIENTS", str(tmp_path / "usr/*/bin/pg_dump")
    )
    pg = backend()
    expected = (
        f"pg_dump 12.3 ({pg_dump}) is older than the PostgreSQL {major} server: "
        f"set MIGRATION_GUARD['DUMP_COMMANDS'] = {{'postgresql': '{installed}'}} "
        "(installed here)"
    )
    assert pg.problems() == [expected]

    monkeypatch.setattr(clients, "INSTALLED_CLIENTS", str(tmp_path / "none/*/pg_dump"))
    assert pg.problems() == [
        f"pg_dump 12.3 ({pg_dump}) is older than the PostgreSQL {major} server: "
        f"install postgresql-client-{major} and set MIGRATION_GUARD['DUMP_COMMANDS'] = "
        f"{{'postgresql': '{tmp_path}/none/{major}/pg_dump'}}"
    ]
    assert pg.versions()["client"] == "12.3"
    # one --version run per binary and process, however often it is asked
    assert (bin_dir / "pg_dump.runs").read_text() == "run\n"


def test_problems_pg_restore_older_than_pg_dump(
    database: Database, settings: Any, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    dump = shutil.which("pg_dump")
    assert dump is not None
    bin_dir.mkdir()
    (bin_dir / "pg_dump").symlink_to(dump)
    restore = fake_client(bin_dir, "pg_restore", "9.6.24")
    settings.MIGRATION_GUARD = {
        "DUMP_COMMANDS": {"postgresql": str(bin_dir / "pg_dump")}
    }
    version = backend().versions()["client"]
    assert backend().problems() == [
        f"pg_restore 9.6.24 ({restore}) is older than pg_dump {version} "
        f"({bin_dir / 'pg_dump'}): it cannot read the archives pg_dump writes; use "
        "the pg_restore of the same installation"
    ]


def test_version_helpers() -> None:
    assert clients.parse_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0)") == (
        "15.20"
    )
    assert clients.parse_version("pg_dump (PostgreSQL) 17devel") == "17"
    assert clients.major("9.6.24") == (9, 6) < clients.major("10.1") == (10,)
    assert clients.server_version_string(150020) == "15.20"
    assert clients.server_version_string(90624) == "9.6.24"


def test_a_count_that_fails_is_not_said_to_be_pg_dumps_failure(
    database: Database, dump_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are counted in migration_guard (a huge row: MemoryError), not
    by pg_dump, which finished: the message says which step failed, and why."""
    execute(database, "CREATE TABLE a (id integer PRIMARY KEY);")

    def exhausted(source: Any) -> dict[str, int]:
        source.readline()
        raise MemoryError

    monkeypatch.setattr(pg_archive, "copy_rows", exhausted)
    with pytest.raises(BackupError) as caught:
        backend().dump(dump_path)
    assert str(caught.value) == (
        f"Counting the rows of the dump of database {database.name!r} failed: "
        "Reading the output of pg_restore failed: MemoryError"
    )


def test_rows_counted_while_dumping_are_not_those_of_a_file_rewritten_in_place(
    database: Database, dump_path: Path
) -> None:
    """Rewritten in place, same size, its modification time set back (as
    ``rsync --inplace --times`` or ``cp --preserve`` leave a file): the
    inode change time still tells, so the file is decoded again."""
    execute(
        database,
        "CREATE TABLE a (id integer PRIMARY KEY, t text); "
        "INSERT INTO a SELECT i, md5(i::text) FROM generate_series(1, 20000) AS i;",
    )
    pg = backend()
    pg.dump(dump_path)
    before = dump_path.stat()
    data = dump_path.read_bytes()
    with open(dump_path, "r+b") as handle:  # the same inode
        handle.write(data[: len(data) // 2] + b"\0" * (len(data) - len(data) // 2))
    os.utime(dump_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = dump_path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    with pytest.raises(BackupError, match="is not a complete pg_dump"):
        pg.read_rows(dump_path)


def test_a_copy_line_inside_a_string_is_not_counted_as_data(database: Database) -> None:
    """A comment (or a function body) whose text holds a line that reads as
    a COPY: its lines up to the next ``\\.`` were counted as that table's
    rows, and every restore of the backup then said the database differs
    from it. Only a COPY under a ``Data for Name`` header starts data."""
    execute(
        database,
        "CREATE TABLE big (id integer); INSERT INTO big VALUES (1), (2);"
        "CREATE TABLE empty_one (id integer);"
        "COMMENT ON TABLE big IS E'x\\nCOPY public.empty_one (id) FROM stdin;\\ny';",
    )
    manifest = catalog.create_backup("default", reason="manual")
    tables = ("public.big", "public.empty_one")
    assert {table: manifest.rows.get(table) for table in tables} == dict(
        zip(tables, (2, 0), strict=True)
    )
    stored = Path(get_store().location(manifest))
    assert backend().check_content(stored) == manifest.rows
