"""Benchmark: migration_guard's backups and restores vs the bare tools they wrap.

    python bench/backup.py [--backends sqlite,postgresql,mysql] [--runs 3]
                           [--pg-mb 1024] [--mysql-mb 1024] [--sqlite-mb 400]
                           [--quick]

For each backend, a scratch database (``smbench_backup_<pid>_<n>``, dropped at
the end, also on errors and Ctrl-C) is filled server-side with mixed data up
to the requested size: customers (unicode names, e-mails, JSON profiles,
decimals), orders (JSON line items, decimals, dates, notes from NULL to a few
KB, half of them incompressible hex) and an audit log of very repetitive
rows, with secondary indexes. PostgreSQL uses ``generate_series``, MariaDB the
``seq_M_to_N`` tables of the SEQUENCE engine, SQLite a recursive CTE.

Then, alternating the tools in every round (reversed order every other round,
``sync`` before every timed run so that no tool pays for the previous one's
write-back):

* backup: ``migration_guard.backup.catalog.create_backup`` vs the bare dump tool
  invoked as an expert would, with the same options that matter:
  ``pg_dump -Fc -Z1 -f FILE`` (migration_guard's compression; plus plain
  ``pg_dump -Fc`` at its default compression, for the "-Z1 default is 1.8x
  faster" check), ``mariadb-dump --single-transaction --routines --triggers
  --events --hex-blob --result-file=FILE``, ``sqlite3 DB ".backup FILE"``;
* restore, each tool of its own last dump (same database, same options):
  ``restore_backup`` vs ``pg_restore --clean --if-exists
  --single-transaction --exit-on-error`` of the ``-Z1`` file, ``mariadb DB <
  FILE``, ``sqlite3 DB ".restore FILE"``.

guardedmigrate runs in a child Python process (Django set up by a generated
settings module pointing at the scratch database), which reports the time of
the ``create_backup``/``restore_backup`` call itself (what a deploy pays: the
call runs inside ``manage.py guardedmigrate``), where that time went (dump,
fsync, sha256, format check, each client run), and its own peak RSS
(``ru_maxrss``; the dump clients are other processes). The whole child's
wall time (interpreter and Django start-up included) is shown too, and the
call minus its verification (sha256 read-back and format check, timed in the
same run), to tell the cost of checking the file from the wrapper's. Peak RSS
is also taken on a small database (``--small-mb``) first, to show it does
not grow with the database.

Prints a table per backend with medians and migration_guard/bare ratios against
the target (<= 1.05), the PostgreSQL compression check (>= 1.8x), peak
memory (< 150 MB), and the machine. Always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import CommandFailed, Row, ScratchDatabase, ScratchDatabases, log
from dataset import (
    MYSQL_AUDIT,
    MYSQL_CUSTOMERS,
    MYSQL_ORDERS,
    MYSQL_SCHEMA,
    PG_AUDIT,
    PG_CUSTOMERS,
    PG_ORDERS,
    PG_SCHEMA,
    SQLITE_AUDIT,
    SQLITE_CUSTOMERS,
    SQLITE_ORDERS,
    SQLITE_SCHEMA,
    TABLES,
)

TARGET = 1.05
PG_SPEEDUP_TARGET = 1.8
RSS_TARGET_MB = 150.0
DEFAULT_RUNS = 3
QUICK_MB = 50
DEFAULT_SMALL_MB = 16
SETTINGS_MODULE = "smbench_backup_settings"
MB = 1024 * 1024


# ---------------------------------------------------------------------------
# Data generation
# ---------------------------------------------------------------------------


def batch_rows(target_mb: int) -> int:
    """Orders (and audit rows) per generation batch: ~1/20th of the target."""
    return max(5_000, min(100_000, target_mb * 100))


class Generator:
    """Fills one scratch database, batch after batch, up to a size."""

    def __init__(self, db: ScratchDatabase) -> None:
        self.db = db
        self.next_id = 1

    def close(self) -> None:
        raise NotImplementedError

    def create_schema(self) -> None:
        raise NotImplementedError

    def add_batch(self, start: int, stop: int) -> None:
        """Orders and audit rows ``start..stop``, customers ``start/10..stop/10``."""
        raise NotImplementedError

    def size(self) -> int:
        """The size of the database in bytes (data and indexes)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Statistics, checkpoint: what a DBA does after a bulk load."""

    def counts(self) -> dict[str, int]:
        return {table: self.count(table) for table in TABLES}

    def count(self, table: str) -> int:
        raise NotImplementedError

    def fill(self, target_mb: int, batch: int) -> int:
        """Add batches until the database holds ``target_mb`` MB; its size."""
        size = self.size()
        while size < target_mb * MB:
            start, stop = self.next_id, self.next_id + batch - 1
            self.add_batch(start, stop)
            self.next_id = stop + 1
            size = self.size()
            log(f"  {stop:,} orders: {size / MB:.0f} MB")
        return size


class PostgreSQLGenerator(Generator):
    def __init__(self, db: ScratchDatabase) -> None:
        super().__init__(db)
        self.conn = common.connect(db.url)

    def execute(self, sql: str, params: dict[str, int] | None = None) -> Any:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None

    def close(self) -> None:
        self.conn.close()

    def create_schema(self) -> None:
        self.execute("SELECT setseed(0.42)")
        self.execute(PG_SCHEMA)

    def add_batch(self, start: int, stop: int) -> None:
        params = {"start": start, "stop": stop}
        params.update(cstart=(start - 1) // 10 + 1, cstop=stop // 10)
        for sql in (PG_CUSTOMERS, PG_ORDERS, PG_AUDIT):
            self.execute(sql, params)

    def size(self) -> int:
        return int(self.execute("SELECT pg_database_size(current_database())")[0])

    def finish(self) -> None:
        self.execute("VACUUM ANALYZE")
        self.execute("CHECKPOINT")

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT count(*) FROM {table}")[0])


class MySQLGenerator(Generator):
    def __init__(self, db: ScratchDatabase) -> None:
        super().__init__(db)
        self.conn = common.connect(db.url, charset="utf8mb4")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
        finally:
            cursor.close()

    def close(self) -> None:
        self.conn.close()

    def create_schema(self) -> None:
        for statement in MYSQL_SCHEMA:
            self.execute(statement)

    def add_batch(self, start: int, stop: int) -> None:
        values = {"start": start, "stop": stop}
        values.update(cstart=(start - 1) // 10 + 1, cstop=stop // 10)
        for sql in (MYSQL_CUSTOMERS, MYSQL_ORDERS, MYSQL_AUDIT):
            self.execute(sql.format(**values))

    def size(self) -> int:
        """The size of the tables' .ibd files (data, indexes, free pages)."""
        row = self.execute(
            "SELECT COALESCE(SUM(FILE_SIZE), 0) "
            "FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME LIKE %s",
            [f"{self.db.name}/%"],
        )
        return int(row[0])

    def finish(self) -> None:
        self.execute(f"ANALYZE TABLE {', '.join(TABLES)}")

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT COUNT(*) FROM {table}")[0])


class SQLiteGenerator(Generator):
    def __init__(self, db: ScratchDatabase) -> None:
        super().__init__(db)
        assert db.path is not None
        self.conn = sqlite3.connect(db.path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous = OFF")

    def close(self) -> None:
        self.conn.close()

    def create_schema(self) -> None:
        self.conn.executescript(SQLITE_SCHEMA)

    def add_batch(self, start: int, stop: int) -> None:
        cstart, cstop = (start - 1) // 10 + 1, stop // 10
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(SQLITE_CUSTOMERS, {"start": cstart, "stop": cstop})
            self.conn.execute(
                SQLITE_ORDERS, {"start": start, "stop": stop, "customers": cstop}
            )
            self.conn.execute(SQLITE_AUDIT, {"start": start, "stop": stop})

    def size(self) -> int:
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        return int(pages * page_size)

    def finish(self) -> None:
        self.conn.execute("ANALYZE")

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


GENERATORS: dict[str, Callable[[ScratchDatabase], Generator]] = {
    "postgresql": PostgreSQLGenerator,
    "mysql": MySQLGenerator,
    "sqlite": SQLiteGenerator,
}


# ---------------------------------------------------------------------------
# The bare tools
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One bare tool run: argv, environment, and a file for its stdin."""

    label: str
    argv: list[str]
    env: dict[str, str] | None = None
    stdin: Path | None = None
    output: Path | None = None


def bare_backups(db: ScratchDatabase, directory: Path) -> list[Command]:
    """The expert's dump command, same options as migration_guard (and pg default).

    The first command's file is the one the bare restore restores.
    """
    if db.backend == "postgresql":
        args, env = common.client_login(db.url)
        z1, z6 = directory / "dump-z1.dump", directory / "dump-default.dump"
        return [
            Command(
                "pg_dump -Fc -Z1",
                ["pg_dump", "-Fc", "-Z1", f"--file={z1}", *args, db.name],
                env,
                output=z1,
            ),
            Command(
                "pg_dump -Fc (default -Z6)",
                ["pg_dump", "-Fc", f"--file={z6}", *args, db.name],
                env,
                output=z6,
            ),
        ]
    out = directory / ("dump.sql" if db.backend == "mysql" else "dump.sqlite3")
    if db.backend == "mysql":
        args, env = common.client_login(db.url)
        argv = ["mariadb-dump", *args, "--single-transaction", "--routines",
                "--triggers", "--events", "--hex-blob", f"--result-file={out}",
                db.name]  # fmt: skip
        return [Command("mariadb-dump --single-transaction", argv, env, output=out)]
    assert db.path is not None
    argv = ["sqlite3", str(db.path), f".backup {out}"]
    return [Command("sqlite3 .backup", argv, output=out)]


def bare_restore(db: ScratchDatabase, backup: Path) -> Command:
    if db.backend == "postgresql":
        args, env = common.client_login(db.url)
        argv = ["pg_restore", "--clean", "--if-exists", "--single-transaction",
                "--exit-on-error", *args, f"--dbname={db.name}",
                str(backup)]  # fmt: skip
        return Command("pg_restore --clean --single-transaction", argv, env)
    if db.backend == "mysql":
        args, env = common.client_login(db.url)
        return Command("mariadb DB < FILE", ["mariadb", *args, db.name], env, backup)
    assert db.path is not None
    return Command("sqlite3 .restore", ["sqlite3", str(db.path), f".restore {backup}"])


def run_bare(command: Command) -> float:
    """Wall seconds of one bare tool run; CommandFailed when it fails."""
    with contextlib.ExitStack() as stack:
        stdin: Any = subprocess.DEVNULL
        if command.stdin is not None:
            stdin = stack.enter_context(open(command.stdin, "rb"))
        started = time.perf_counter()
        proc = subprocess.run(
            command.argv,
            env=command.env,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise CommandFailed(
            f"{' '.join(command.argv)} exited {proc.returncode}: "
            f"{proc.stderr.decode('utf-8', 'replace').strip()[-2000:]}"
        )
    return seconds


# ---------------------------------------------------------------------------
# migration_guard, in a child process
# ---------------------------------------------------------------------------

#: Run with ``DJANGO_SETTINGS_MODULE`` = the generated settings: one
#: ``create_backup`` (argv ``backup -``) or ``restore_backup`` of a backup id
#: (argv ``restore ID``), timed, with the time of its parts (functions of
#: migration_guard wrapped in timers: nothing else changes) and the peak RSS.
CHILD_SCRIPT = r"""
import json, os, resource, sys, time


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


op, backup_id = sys.argv[1], sys.argv[2]
import django

django.setup()
from django.db import connections

from migration_guard.backup import catalog, process
from migration_guard.backup.base import backend_for

spans, clients = {}, []


def timed(name, func):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            spans[name] = spans.get(name, 0.0) + time.perf_counter() - started
    return wrapper


def label(argv, kwargs):
    argv = [str(arg) for arg in argv]
    words = [os.path.basename(argv[0])]
    words += [a for a in argv[1:] if a in ("--version", "--list", "--clean")]
    if f"--file={os.devnull}" in argv:
        words.append("--file=/dev/null")
    stdin = kwargs.get("stdin")
    if stdin is not None:
        file = isinstance(getattr(stdin, "name", None), str)
        words.append("< backup file" if file else "< DROP statements")
    return " ".join(words)


def timed_run(func):
    def wrapper(argv, *args, **kwargs):
        started = time.perf_counter()
        try:
            return func(argv, *args, **kwargs)
        finally:
            name = label(argv, kwargs)
            if kwargs.get("check"):  # process.tee: dump | check, at once
                name += " | " + label(kwargs["check"], {})
            clients.append([name, time.perf_counter() - started])
    return wrapper


cls = type(backend_for(connections["default"]))
cls.dump = timed("dump", cls.dump)
cls.verify = timed("format check", cls.verify)
cls.restore = timed("vendor restore", cls.restore)
for name, span in (("drop_extra_objects", "drop extra objects (SQL)"),
                   ("cleanup_sql", "list objects to drop (SQL)")):
    if hasattr(cls, name):
        setattr(cls, name, timed(span, getattr(cls, name)))
catalog.fsync_file = timed("fsync", catalog.fsync_file)
catalog.sha256_of = timed("sha256", catalog.sha256_of)
catalog.verify_backup = timed("verify_backup", catalog.verify_backup)
process.run = timed_run(process.run)
if hasattr(process, "tee"):
    process.tee = timed_run(process.tee)

setup_mb = peak_mb()
manifest = catalog.find(backup_id) if op == "restore" else None
started = time.perf_counter()
if op == "backup":
    manifest = catalog.create_backup("default", reason="smbench")
else:
    catalog.restore_backup("default", manifest)
seconds = time.perf_counter() - started
print("SMBENCH" + json.dumps({
    "seconds": seconds, "setup_mb": setup_mb, "peak_mb": peak_mb(),
    "spans": spans, "clients": clients, "id": manifest.id,
    "filename": manifest.filename, "size": manifest.size,
}))
"""


def write_settings(work: Path, db: ScratchDatabase, backup_dir: Path) -> Path:
    """A settings module for the child: the scratch database, BACKUP_DIR."""
    if db.backend == "sqlite":
        database: dict[str, Any] = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(db.path),
        }
    else:
        server = common._server(db.url)
        database = {
            "ENGINE": f"django.db.backends.{db.backend}",
            "NAME": server["dbname"],
            "USER": server["user"],
            "PASSWORD": server["password"],
            "HOST": server["host"],
            "PORT": str(server["port"] or ""),
        }
        if db.backend == "mysql":
            database["OPTIONS"] = {"charset": "utf8mb4"}
    settings = work / "settings"
    settings.mkdir(exist_ok=True)
    (settings / f"{SETTINGS_MODULE}.py").write_text(
        "# generated by bench/backup.py\n"
        'SECRET_KEY = "smbench"\n'
        "USE_TZ = True\n"
        'INSTALLED_APPS = ["migration_guard"]\n'
        f"DATABASES = {{'default': {database!r}}}\n"
        f"MIGRATION_GUARD = {{'BACKUP_DIR': {str(backup_dir)!r}}}\n",
        encoding="utf-8",
    )
    return settings


@dataclass
class ChildResult:
    wall: float  # the whole child process
    seconds: float  # the create_backup / restore_backup call
    setup_mb: float  # peak RSS after django.setup()
    peak_mb: float  # peak RSS at the end
    spans: dict[str, float]
    clients: list[tuple[str, float]]
    backup_id: str
    filename: str
    size: int


def run_child(
    db: ScratchDatabase, settings: Path, op: str, backup_id: str = "-"
) -> ChildResult:
    pythonpath = [str(common.SOURCE.root), str(settings)]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    env = common.manage_env(
        db.url,
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "PYTHONPATH": os.pathsep.join(pythonpath),
        },
    )
    proc, wall, _ = common.run_child(
        [common.PYTHON, "-c", CHILD_SCRIPT, op, backup_id], cwd=settings, env=env
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("SMBENCH")]
    if proc.returncode != 0 or not marker:
        raise CommandFailed(
            f"migration_guard {op} exited {proc.returncode} on {db.name}:\n"
            + (proc.stdout + proc.stderr)[-4000:]
        )
    data = json.loads(marker[-1][len("SMBENCH") :])
    return ChildResult(
        wall=wall,
        seconds=data["seconds"],
        setup_mb=data["setup_mb"],
        peak_mb=data["peak_mb"],
        spans=data["spans"],
        clients=[(name, seconds) for name, seconds in data["clients"]],
        backup_id=data["id"],
        filename=data["filename"],
        size=data["size"],
    )


# ---------------------------------------------------------------------------
# The benchmark of one backend
# ---------------------------------------------------------------------------


@dataclass
class Report:
    backend: str
    size: int = 0
    rows: list[Row] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    pg_checks: list[tuple[str, float]] = field(default_factory=list)


def clear(directory: Path) -> None:
    """Empty ``directory`` (untimed, between runs)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def settle() -> None:
    """Write back dirty pages, so a run does not pay for the previous one's."""
    os.sync()


def median(values: Sequence[float]) -> float:
    return common.median(values)


def _clients(results: Sequence[ChildResult]) -> str:
    """Median seconds of each client run (summed per call), by label."""
    names = sorted({name for r in results for name, _ in r.clients})
    parts = []
    for name in names:
        per_call = [sum(s for n, s in r.clients if n == name) for r in results]
        parts.append(f"{name} {median(per_call):.2f}")
    return ", ".join(parts)


def breakdown(results: Sequence[ChildResult], operation: str) -> list[str]:
    """Where migration_guard's call spends its time (medians over the runs)."""

    def span(name: str) -> float:
        return median([r.spans.get(name, 0.0) for r in results])

    def rest(names: Sequence[str]) -> float:
        return median(
            [r.seconds - sum(r.spans.get(n, 0.0) for n in names) for r in results]
        )

    call = median([r.seconds for r in results])
    parts: tuple[str, ...]
    if operation == "backup":
        parts = ("dump", "fsync", "sha256", "format check")
        verification = span("sha256") + span("format check")
        lines = [
            f"create_backup {call:.2f}s: "
            + ", ".join(f"{name} {span(name):.2f}" for name in parts)
            + f", other {rest(parts):.2f} (connection, client versions, manifest)",
            f"verification after the dump (sha256 read-back + format check) "
            f"{verification:.2f}s = {verification / call:.0%} of the call; fsync "
            f"{span('fsync'):.2f}s",
        ]
        if any(" | " in name for r in results for name, _ in r.clients):
            lines.append(
                "(the format check runs alongside the dump, on the stream: its "
                "cost is inside 'dump')"
            )
    else:
        parts = ("verify_backup", "vendor restore")
        verify = span("verify_backup")
        sql = [name for name in sorted({n for r in results for n in r.spans})
               if name.endswith("(SQL)")]  # fmt: skip
        inside = ", ".join(f"{name} {span(name):.2f}" for name in sql)
        lines = [
            f"restore_backup {call:.2f}s: verify_backup {verify:.2f} (sha256 "
            f"{span('sha256'):.2f}, format check {verify - span('sha256'):.2f}), "
            f"vendor restore {span('vendor restore'):.2f}"
            + (f" (of which {inside})" if inside else "")
            + f", other {rest(parts):.2f}",
            f"verification before the restore (verify_backup) {verify:.2f}s = "
            f"{verify / call:.0%} of the call",
        ]
    clients = _clients(results)
    if clients:
        lines.append(f"client runs: {clients}")
    return lines


def verification(result: ChildResult, operation: str) -> float:
    """Seconds of ``result``'s call spent checking the backup file."""
    if operation == "backup":
        return result.spans.get("sha256", 0.0) + result.spans.get("format check", 0.0)
    return result.spans.get("verify_backup", 0.0)


def add_rows(
    report: Report,
    operation: str,
    bare_label: str,
    bare: Sequence[float],
    mine: Sequence[ChildResult],
) -> None:
    base = median(bare)
    call = median([r.seconds for r in mine])
    wall = median([r.wall for r in mine])
    unverified = median([r.seconds - verification(r, operation) for r in mine])
    backend = report.backend
    report.rows += [
        Row(backend, f"{operation}: {bare_label} (bare)", base),
        Row(backend, f"{operation}: migration_guard call", call, call / base, TARGET),
        Row(
            backend,
            f"{operation}: migration_guard call minus verification",
            unverified,
            unverified / base,
            TARGET,
            "(derived: call - sha256 read-back - format check after the dump)"
            if operation == "backup"
            else "(derived: call - verify_backup)",
        ),
        Row(
            backend,
            f"{operation}: migration_guard child process",
            wall,
            wall / base,
            TARGET,
            "(incl. Python + Django start-up)",
        ),
    ]
    report.lines.append(
        f"  {operation} runs (s): bare {common.describe_runs(bare)}; migration_guard "
        f"call {common.describe_runs([r.seconds for r in mine])}; child "
        f"{common.describe_runs([r.wall for r in mine])}"
    )


def bench_backend(
    backend: str,
    dbs: ScratchDatabases,
    work: Path,
    target_mb: int,
    small_mb: int,
    runs: int,
    restore_runs: int,
) -> Report:
    report = Report(backend)
    db = dbs.create(backend)
    backups = work / f"{backend}-backups"
    bare_dir = work / f"{backend}-bare"
    clear(backups)
    clear(bare_dir)
    settings = write_settings(work, db, backups)
    generator = GENERATORS[backend](db)
    batch = batch_rows(target_mb)
    try:
        generator.create_schema()
        if small_mb:
            log(f"[{backend}] generating ~{small_mb} MB in {db.name}")
            size = generator.fill(small_mb, batch_rows(small_mb))
            generator.finish()
            small = run_child(db, settings, "backup")
            restored = run_child(db, settings, "restore", small.backup_id)
            report.peak_mb += [small.peak_mb, restored.peak_mb]
            report.lines.append(
                f"  peak RSS at {size / MB:.0f} MB: backup {small.peak_mb:.0f} MB, "
                f"restore {restored.peak_mb:.0f} MB (after django.setup(): "
                f"{small.setup_mb:.0f} MB)"
            )
            clear(backups)
        log(f"[{backend}] generating ~{target_mb} MB in {db.name}")
        started = time.perf_counter()
        generator.fill(target_mb, batch)
        generator.finish()
        report.size = generator.size()
        counts = generator.counts()
        log(
            f"[{backend}] {report.size / MB:.0f} MB generated in "
            f"{time.perf_counter() - started:.0f}s: {counts}"
        )
    finally:
        generator.close()

    # -- backup ---------------------------------------------------------------
    commands = bare_backups(db, bare_dir)
    log(f"[{backend}] warm-up: {commands[0].label}")
    run_bare(commands[0])
    tools: list[str] = ["guardedmigrate", *(c.label for c in commands)]
    bare_times: dict[str, list[float]] = {c.label: [] for c in commands}
    bare_sizes: dict[str, int] = {}
    mine: list[ChildResult] = []
    for i in range(runs):
        for tool in tools if i % 2 == 0 else tools[::-1]:
            settle()
            if tool == "guardedmigrate":
                clear(backups)
                settle()
                mine.append(run_child(db, settings, "backup"))
                seconds = mine[-1].seconds
            else:
                command = next(c for c in commands if c.label == tool)
                assert command.output is not None
                command.output.unlink(missing_ok=True)
                settle()
                seconds = run_bare(command)
                bare_times[tool].append(seconds)
                bare_sizes[tool] = command.output.stat().st_size
            log(f"[{backend}] backup run {i + 1}/{runs} {tool}: {seconds:.2f}s")
    same = commands[0].label
    add_rows(report, "backup", same, bare_times[same], mine)
    sizes = [f"migration_guard {mine[-1].size / MB:.1f} MB"]
    sizes += [f"{label} {size / MB:.1f} MB" for label, size in bare_sizes.items()]
    report.lines.append("  backup file sizes: " + ", ".join(sizes))
    report.lines += [f"    {line}" for line in breakdown(mine, "backup")]
    report.peak_mb += [r.peak_mb for r in mine]
    if backend == "postgresql":
        default = median(bare_times[commands[1].label])
        report.rows.append(Row(backend, f"backup: {commands[1].label} (bare)", default))
        report.pg_checks = [
            ("pg_dump -Fc -Z1 (bare)", default / median(bare_times[same])),
            ("migration_guard call", default / median([r.seconds for r in mine])),
            ("migration_guard child process", default / median([r.wall for r in mine])),
        ]
        report.lines.append(
            f"  {commands[1].label} runs (s): "
            f"{common.describe_runs(bare_times[commands[1].label])}"
        )

    # -- restore --------------------------------------------------------------
    # each tool restores its own last dump of the same database
    for command in commands[1:]:
        assert command.output is not None
        command.output.unlink(missing_ok=True)
    assert commands[0].output is not None
    restore = bare_restore(db, commands[0].output)
    backup_id = mine[-1].backup_id
    restore_bare: list[float] = []
    restored_mine: list[ChildResult] = []
    for i in range(restore_runs):
        order = ["guardedmigrate", "bare"]
        for tool in order if i % 2 == 0 else order[::-1]:
            settle()
            if tool == "guardedmigrate":
                restored_mine.append(run_child(db, settings, "restore", backup_id))
                seconds = restored_mine[-1].seconds
            else:
                seconds = run_bare(restore)
                restore_bare.append(seconds)
            log(
                f"[{backend}] restore run {i + 1}/{restore_runs} {tool}: {seconds:.2f}s"
            )
    add_rows(report, "restore", restore.label, restore_bare, restored_mine)
    report.lines += [f"    {line}" for line in breakdown(restored_mine, "restore")]
    report.peak_mb += [r.peak_mb for r in restored_mine]
    checker = GENERATORS[backend](db)
    try:
        after = checker.counts()
    finally:
        checker.close()
    if after != counts:
        raise CommandFailed(f"rows after the restores {after} != generated {counts}")
    report.lines.append(f"  rows (checked after the restores): {counts}")
    return report


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def tool_version(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, check=False, timeout=30
        )
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    return " ".join((proc.stdout or proc.stderr).split()[:5]).rstrip(",")


def machine_facts() -> list[str]:
    import django

    return [
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{platform.system()} {platform.release()}",
        f"Python {sys.version.split()[0]}, Django {django.get_version()}, "
        f"migration_guard {common.code_version()}",
        f"{tool_version(['pg_dump', '--version'])}; "
        f"{tool_version(['mariadb-dump', '--version'])}",
        f"sqlite3 CLI {tool_version(['sqlite3', '--version']).split()[0]}, "
        f"Python's sqlite3 {sqlite3.sqlite_version}",
    ]


def server_versions(backends: Sequence[str]) -> str:
    found = []
    for backend in backends:
        with contextlib.suppress(Exception):
            if backend == "postgresql":
                with common.admin("postgresql") as cursor:
                    cursor.execute("SHOW server_version")
                    found.append(f"PostgreSQL {cursor.fetchone()[0]}")
            elif backend == "mysql":
                with common.admin("mysql") as cursor:
                    cursor.execute("SELECT VERSION()")
                    found.append(f"MariaDB/MySQL {cursor.fetchone()[0]}")
    return ", ".join(found)


def print_report(report: Report, target_mb: int, runs: str) -> None:
    print(
        f"\n== {report.backend}: {report.size / MB:.0f} MB database "
        f"(asked {target_mb} MB); median of {runs} =="
    )
    print(common.format_table(report.rows))
    for line in report.lines:
        print(line)
    for label, speedup in report.pg_checks:
        verdict = "PASS" if speedup >= PG_SPEEDUP_TARGET else "FAIL"
        print(
            f"  pg_dump -Fc default time / {label} time: {speedup:.2f}x "
            f"(target >= {PG_SPEEDUP_TARGET}x) {verdict}"
        )
    if report.peak_mb:
        peak = max(report.peak_mb)
        verdict = "PASS" if peak < RSS_TARGET_MB else "FAIL"
        print(
            f"  peak RSS of the guardedmigrate process, all runs: {peak:.0f} MB "
            f"(target < {RSS_TARGET_MB:.0f} MB) {verdict}"
        )


def resolve_ref(ref: str | None) -> str | None:
    """``ref`` as a commit id, so the version printed at the end is the one
    exported at the start even if HEAD moves during the run."""
    if ref is None:
        return None
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=common.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or ref  # an unknown ref: use_ref reports it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        type=common.parse_backends,
        default=list(("postgresql", "mysql", "sqlite")),
        help="comma-separated: sqlite, postgresql, mysql (default: all three)",
    )
    parser.add_argument("--pg-mb", type=int, default=1024)
    parser.add_argument("--mysql-mb", type=int, default=1024)
    parser.add_argument("--sqlite-mb", type=int, default=400)
    parser.add_argument(
        "--small-mb",
        type=int,
        default=DEFAULT_SMALL_MB,
        help="size of the first, small database on which peak RSS is also "
        f"measured (default {DEFAULT_SMALL_MB}; 0: skip)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help=f"runs per tool (default {DEFAULT_RUNS})"
    )
    parser.add_argument(
        "--restore-runs", type=int, default=None, help="restore runs (default: --runs)"
    )
    parser.add_argument(
        "--mysql-restore-runs",
        type=int,
        default=None,
        help="restore runs on MySQL/MariaDB, whose loads are slow "
        "(default: --restore-runs)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_MB} MB databases, 1 run",
    )
    common.add_work_arguments(parser, "the backups")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else DEFAULT_RUNS)
    restore_runs = args.restore_runs or runs
    sizes = {
        "postgresql": QUICK_MB if args.quick else args.pg_mb,
        "mysql": QUICK_MB if args.quick else args.mysql_mb,
        "sqlite": QUICK_MB if args.quick else args.sqlite_mb,
    }
    small_mb = min(args.small_mb, QUICK_MB // 4) if args.quick else args.small_mb
    load_before = common.load_average()
    started = time.perf_counter()
    reports: list[Report] = []
    failures: list[str] = []
    with (
        common.exit_on_sigterm(),
        common.workdir(args.keep, "backup") as work,
        ScratchDatabases(work, "backup") as dbs,
    ):
        common.use_ref(resolve_ref(args.ref), work)
        for backend in args.backends:
            problem = common.check_backend(backend)
            if problem is not None:
                failures.append(f"{backend}: server unreachable: {problem}")
                log(f"[{backend}] skipped: {problem}")
                continue
            backend_restore_runs = restore_runs
            if backend == "mysql" and args.mysql_restore_runs:
                backend_restore_runs = args.mysql_restore_runs
            try:
                report = bench_backend(
                    backend,
                    dbs,
                    work,
                    sizes[backend],
                    small_mb,
                    runs,
                    backend_restore_runs,
                )
            except Exception as exc:  # a tool or driver error: report, go on
                failures.append(f"{backend}: {type(exc).__name__}: {exc}")
                log(f"[{backend}] failed: {type(exc).__name__}: {exc}")
                continue
            finally:
                dbs.drop_all()  # free the disk before the next backend
            reports.append(report)
            run_text = f"{runs} backup runs, " + (
                f"{backend_restore_runs} restore runs per tool"
            )
            print_report(report, sizes[backend], run_text)
            sys.stdout.flush()
    elapsed = time.perf_counter() - started
    print(
        f"\nmigration_guard backups vs the bare tools, {elapsed:.0f}s "
        f'in all; ratio = migration_guard / bare (target <= {TARGET}); "call" is '
        "create_backup/restore_backup inside a running Django process"
    )
    for fact in machine_facts():
        print(fact)
    print(f"servers: {server_versions(args.backends)}")
    print(f"{load_before} before / {common.load_average()} after")
    for failure in failures:
        print(f"ERROR {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
