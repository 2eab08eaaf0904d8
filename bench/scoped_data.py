"""The project and the large databases of ``bench/scoped_backup.py``.

The project (written anew into a work directory on every run; the same
files every time, so the databases' ``django_migrations`` match it):

* ``bigapp``: one model, ``Event`` (an integer account, a small-integer kind,
  a timestamp, a 128-character hex payload), the large table, filled by SQL;
* ``small00``..: ``--small-tables`` models of three columns (name, value,
  note) in apps of 50, 100 rows each: the long tail of a project;
* ``tweak``: one small model, ``Setting``; ``0001_initial`` creates it and
  ``0002_setting_enabled`` adds a ``BooleanField(default=True)``: the plan the
  benchmark applies (``migrate tweak 0001`` undoes it before each timed run).

A database on PostgreSQL and MariaDB (``bench_scoped_2g`` for 2048 MiB,
``bench_scoped_<N>m`` otherwise; kept between runs) is migrated by
``manage.py migrate``, then the large table is filled server-side in batches
of a million rows (PostgreSQL ``generate_series``, MariaDB the
``seq_M_to_N`` tables of the SEQUENCE engine, unique and foreign key checks
off for the session) until the database holds the target size, measured as
``pg_database_size`` and as the sum of ``data_length + index_length`` in
``information_schema.tables`` (after ``ANALYZE TABLE``).
A marker table, ``smbench_scoped_marker``, written last, records the
generator's version, the target and the counts; a database whose marker
matches is reused as it is, any other is dropped and generated again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import common
import genproject
from common import log

#: bump when the schema or the data change: databases of another version are rebuilt
VERSION = 1
GB = 1024**3
BATCH = 1_000_000
SMALL_ROWS = 100
MODELS_PER_APP = 50
MARKER = "smbench_scoped_marker"
TWEAK_TABLE = "tweak_setting"
TWEAK_BEFORE = "0001_initial"
TWEAK_AFTER = "0002_setting_enabled"

#: appended to the generated settings: MIGRATION_GUARD from the environment
SETTINGS_EXTRA = """
import json as _json

if os.environ.get("SMBENCH_MIGRATION_GUARD"):
    MIGRATION_GUARD.update(_json.loads(os.environ["SMBENCH_MIGRATION_GUARD"]))
"""

PK = (
    '("id", models.BigAutoField(auto_created=True, primary_key=True, '
    'serialize=False, verbose_name="ID"))'
)
MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    initial = {initial}
    dependencies = [{dependencies}]
    operations = [
{operations}
    ]
"""

BIG_FIELDS = {
    "account_id": "models.IntegerField()",
    "kind": "models.SmallIntegerField()",
    "created": "models.DateTimeField()",
    "payload": "models.TextField()",
}
SMALL_FIELDS = {
    "name": "models.CharField(max_length=64)",
    "value": "models.IntegerField(default=0)",
    "note": "models.TextField(blank=True)",
}
TWEAK_FIELDS = {
    "name": "models.CharField(max_length=64)",
    "value": "models.IntegerField(default=0)",
}
TWEAK_ADDED = ("enabled", "models.BooleanField(default=True)")


# ---------------------------------------------------------------------------
# The project
# ---------------------------------------------------------------------------


def _create_model(name: str, fields: dict[str, str]) -> str:
    lines = [
        f"        migrations.CreateModel(name={name!r}, fields=[",
        f"            {PK},",
    ]
    lines += [f"            ({k!r}, {v})," for k, v in fields.items()]
    return "\n".join([*lines, "        ]),"])


def _models(models: dict[str, dict[str, str]]) -> str:
    out = ["from django.db import models", ""]
    for name, fields in models.items():
        out += ["", f"class {name}(models.Model):"]
        out += [f"    {k} = {v}" for k, v in fields.items()]
    return "\n".join(out) + "\n"


def _app(root: Path, label: str, models: dict[str, dict[str, str]]) -> None:
    """An app whose ``0001_initial`` creates ``models``."""
    migrations = root / label / "migrations"
    migrations.mkdir(parents=True)
    (root / label / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    (root / label / "models.py").write_text(_models(models))
    ops = "\n".join(_create_model(n, f) for n, f in models.items())
    text = MIGRATION.format(initial=True, dependencies="", operations=ops)
    (migrations / f"{TWEAK_BEFORE}.py").write_text(text)


def small_apps(small_tables: int) -> list[list[str]]:
    """The model names of each small app."""
    names = [f"Thing{n:03d}" for n in range(small_tables)]
    return [
        names[i : i + MODELS_PER_APP] for i in range(0, small_tables, MODELS_PER_APP)
    ]


def write_project(root: Path, small_tables: int) -> Path:
    """The project's files under ``root`` (which must not exist yet)."""
    apps = ["bigapp", *(f"small{i:02d}" for i in range(len(small_apps(small_tables))))]
    apps.append("tweak")
    root.mkdir(parents=True)
    (root / "manage.py").write_text(genproject.MANAGE)
    (root / "benchproject").mkdir()
    (root / "benchproject" / "__init__.py").write_text("")
    lines = "\n".join(f'    "{app}",' for app in apps)
    settings = genproject.SETTINGS.replace("__APPS__", lines) + SETTINGS_EXTRA
    (root / "benchproject" / "settings.py").write_text(settings)
    _app(root, "bigapp", {"Event": BIG_FIELDS})
    for i, names in enumerate(small_apps(small_tables)):
        _app(root, f"small{i:02d}", {name: SMALL_FIELDS for name in names})
    _app(root, "tweak", {"Setting": TWEAK_FIELDS})
    (root / "tweak" / "models.py").write_text(
        _models({"Setting": {**TWEAK_FIELDS, TWEAK_ADDED[0]: TWEAK_ADDED[1]}})
    )
    add = (
        f"        migrations.AddField(model_name='setting', name={TWEAK_ADDED[0]!r}, "
        f"field={TWEAK_ADDED[1]}),"
    )
    text = MIGRATION.format(
        initial=False, dependencies=f"('tweak', {TWEAK_BEFORE!r})", operations=add
    )
    (root / "tweak" / "migrations" / f"{TWEAK_AFTER}.py").write_text(text)
    return root


# ---------------------------------------------------------------------------
# The databases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    backend: str
    name: str
    url: str


def database(backend: str, size_mb: int) -> Database:
    """``bench_scoped_2g`` for 2048 MB, ``bench_scoped_100m`` for 100."""
    label = f"{size_mb // 1024}g" if size_mb % 1024 == 0 else f"{size_mb}m"
    name = f"bench_scoped_{label}"
    admin_url = (
        common.PG_ADMIN_URL if backend == "postgresql" else common.MYSQL_ADMIN_URL
    )
    parts = urlsplit(admin_url)
    scheme = "postgres" if backend == "postgresql" else "mysql"
    return Database(backend, name, f"{scheme}://{parts.netloc}/{name}")


@contextlib.contextmanager
def cursor(db: Database) -> Iterator[Any]:
    options = {"charset": "utf8mb4"} if db.backend == "mysql" else {}
    conn = common.connect(db.url, **options)
    try:
        cur = conn.cursor()
        yield cur
        cur.close()
    finally:
        conn.close()


def _exists(db: Database) -> bool:
    with common.admin(db.backend) as cur:
        if db.backend == "postgresql":
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db.name])
        else:
            cur.execute(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                [db.name],
            )
        return cur.fetchone() is not None


def marker(db: Database) -> dict[str, int] | None:
    """The marker row of ``db``, or None (no database, no marker, or empty)."""
    if not _exists(db):
        return None
    with cursor(db) as cur:
        try:
            cur.execute(
                f"SELECT version, target_bytes, small_tables, large_rows, size_bytes "
                f"FROM {MARKER}"
            )
        except Exception:  # no marker table: an unfinished generation
            return None
        row = cur.fetchone()
    keys = ("version", "target_bytes", "small_tables", "large_rows", "size_bytes")
    return None if row is None else dict(zip(keys, map(int, row), strict=True))


def recreate(db: Database) -> None:
    with common.admin(db.backend) as cur:
        if db.backend == "postgresql":
            cur.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{db.name}"')
        else:
            cur.execute(f"DROP DATABASE IF EXISTS `{db.name}`")
            cur.execute(
                f"CREATE DATABASE `{db.name}` CHARACTER SET utf8mb4 "
                "COLLATE utf8mb4_unicode_ci"
            )


PG_BIG = """
INSERT INTO bigapp_event (id, account_id, kind, created, payload)
SELECT i, mod(i, 50000), mod(i, 7), timestamptz '2026-01-01' + i * interval '1 second',
       md5(i::text) || md5((i + 1)::text) || md5((i + 2)::text) || md5((i + 3)::text)
FROM generate_series(%s, %s) AS i
"""
MYSQL_BIG = """
INSERT INTO bigapp_event (id, account_id, kind, created, payload)
SELECT seq, seq % 50000, seq % 7, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND,
       CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3))
FROM seq_{start}_to_{stop}
"""
PG_SMALL = (
    "INSERT INTO {table} (name, value, note) SELECT 'name-' || i, i, "
    "repeat('note ', 10) FROM generate_series(1, {rows}) AS i"
)
MYSQL_SMALL = (
    "INSERT INTO {table} (name, value, note) SELECT CONCAT('name-', seq), seq, "
    "REPEAT('note ', 10) FROM seq_1_to_{rows}"
)

PG_TWEAK = (
    f"INSERT INTO {TWEAK_TABLE} (name, value, enabled) "
    "SELECT 'setting-' || i, i, true FROM generate_series(1, 10) AS i"
)
MYSQL_TWEAK = (
    f"INSERT INTO {TWEAK_TABLE} (name, value, enabled) "
    "SELECT CONCAT('setting-', seq), seq, TRUE FROM seq_1_to_10"
)


def size(db: Database, cur: Any) -> int:
    """Bytes: ``pg_database_size``; MariaDB: data + index length of the tables."""
    if db.backend == "postgresql":
        cur.execute("SELECT pg_database_size(current_database())")
    else:
        cur.execute(
            "SELECT COALESCE(SUM(data_length + index_length), 0) "
            "FROM information_schema.tables WHERE table_schema = %s",
            [db.name],
        )
    return int(cur.fetchone()[0])


def fill(db: Database, target: int, small_tables: int) -> tuple[int, int]:
    """The large table up to ``target`` bytes in all, then the small ones;
    (rows of the large table, size of the database)."""
    pg = db.backend == "postgresql"
    with cursor(db) as cur:
        if not pg:
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        for i, names in enumerate(small_apps(small_tables)):
            for name in names:
                table = f"small{i:02d}_{name.lower()}"
                sql = PG_SMALL if pg else MYSQL_SMALL
                cur.execute(sql.format(table=table, rows=SMALL_ROWS))
        cur.execute(PG_TWEAK if pg else MYSQL_TWEAK)
        rows, started = 0, time.perf_counter()
        while True:
            start, stop = rows + 1, rows + BATCH
            if pg:
                cur.execute(PG_BIG, [start, stop])
            else:
                cur.execute(MYSQL_BIG.format(start=start, stop=stop))
                cur.execute("ANALYZE TABLE bigapp_event")
                cur.fetchall()
            rows = stop
            now = size(db, cur)
            log(
                f"  [{db.backend}] {rows:,} rows: {now / GB:.2f} GiB "
                f"({time.perf_counter() - started:.0f} s)"
            )
            if now >= target:
                break
        finish(db, cur, rows)
        return rows, size(db, cur)


def finish(db: Database, cur: Any, rows: int) -> None:
    """Sequences past the rows, statistics, a checkpoint."""
    if db.backend == "postgresql":
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('bigapp_event', 'id'), %s)", [rows]
        )
        cur.execute("VACUUM ANALYZE")
        cur.execute("CHECKPOINT")
    else:
        cur.execute(f"ALTER TABLE bigapp_event AUTO_INCREMENT = {rows + 1}")
        cur.execute("ANALYZE TABLE bigapp_event")
        cur.fetchall()


def write_marker(db: Database, values: dict[str, int]) -> None:
    with cursor(db) as cur:
        cur.execute(
            f"CREATE TABLE {MARKER} (version integer, target_bytes bigint, "
            "small_tables integer, large_rows bigint, size_bytes bigint)"
        )
        keys = ", ".join(values)
        cur.execute(
            f"INSERT INTO {MARKER} ({keys}) VALUES ({', '.join(['%s'] * len(values))})",
            list(values.values()),
        )


def ensure(
    db: Database, project: Path, size_mb: int, small_tables: int
) -> dict[str, int]:
    """The marker of ``db``, generated first unless a matching one is there."""
    target = size_mb * 1024 * 1024
    found = marker(db)
    wanted = {"version": VERSION, "target_bytes": target, "small_tables": small_tables}
    if found is not None and all(found[k] == v for k, v in wanted.items()):
        log(f"[{db.backend}] reusing {db.name} ({found['size_bytes'] / GB:.2f} GiB)")
        return found
    log(
        f"[{db.backend}] generating {db.name}: {size_mb} MiB, "
        f"{small_tables} small tables"
    )
    started = time.perf_counter()
    recreate(db)
    common.run_manage(project, db.url, "migrate", "--no-input")
    rows, total = fill(db, target, small_tables)
    values = {**wanted, "large_rows": rows, "size_bytes": total}
    write_marker(db, values)
    log(f"[{db.backend}] generated in {time.perf_counter() - started:.0f} s")
    return values
