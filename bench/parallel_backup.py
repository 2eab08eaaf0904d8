"""Benchmark: single-process custom-format backups against directory format with ``-j``.

    python bench/parallel_backup.py [--size-mb 1024] [--small-tables 300]
                                     [--runs 2] [--jobs 2]

``MIGRATION_GUARD["BACKUP_JOBS"]`` (see README, "Parallel backups") is chosen
from this benchmark. It creates a scratch database (``smbench_pgpar_<pid>_<n>``,
dropped at the end) of about ``--size-mb`` MB (``pg_database_size``): one large
``orders`` table (bigint ids, timestamps, numerics, a jsonb document, a
half-compressible note; a primary key and an index on two columns, as a
Django foreign key plus ``Meta.indexes`` would give) and ``--small-tables``
small tables of 2,000 rows with a primary key and an index each (the
long tail of a Django project: settings, lookups, join tables).

Each run times both ways as migration_guard runs them, round-robin so that
drift hits both alike:

* custom (today's default): ``pg_dump -Fc -Z1`` written to a file and
  decoded by ``pg_restore --file=/dev/null`` at the same time (the tee of
  :meth:`PostgreSQLBackend.dump`); restored by ``pg_restore --clean
  --if-exists --single-transaction``;
* directory ``-jN``: ``pg_dump -Fd -Z1 -jN``, then the full decode
  (``pg_restore --file=/dev/null DIR``, one process: pg_restore decodes to a
  script in one process only), then packed into an uncompressed tar (what the
  store keeps); restored by unpacking the tar and ``pg_restore --clean
  --if-exists -jN``.

Both restores go into a second scratch database that already holds the
data (as a real restore does: ``--clean`` drops every table first). Prints
medians of ``--runs`` runs and the ratio custom / directory in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import common
import pg_compression
from common import log
from pg_compression import ORDERS_SQL, Connection, pg_version, timed

BATCH = 200_000
SMALL_ROWS = 2_000

#: the orders table of bench/pg_compression.py (the large table here)
_ALL = pg_compression.SCHEMA_SQL
SCHEMA_SQL = _ALL[_ALL.index("CREATE TABLE orders") : _ALL.index("CREATE TABLE audit")]

SMALL_SQL = """
CREATE TABLE small_{n} (
    id integer PRIMARY KEY,
    code text NOT NULL,
    label text NOT NULL,
    value numeric(10, 2),
    updated_at timestamptz NOT NULL
);
INSERT INTO small_{n}
SELECT i, 'code-' || i, md5((i * {n})::text), round((random() * 1000)::numeric, 2),
       now() - random() * interval '1 year'
FROM generate_series(1, {rows}) AS i;
CREATE INDEX small_{n}_code ON small_{n} (code);
"""


def generate(conn: Connection, size_mb: int, small_tables: int) -> int:
    """One large table up to ``size_mb`` MB, then the small ones; the size."""
    target = size_mb * 1024 * 1024
    with conn.cursor() as cursor:
        run = cursor.execute
        run("SELECT setseed(0.42)")
        run(SCHEMA_SQL)
        start = 1
        while True:
            stop = start + BATCH - 1
            run(ORDERS_SQL, {"start": start, "stop": stop})
            start = stop + 1
            run("SELECT pg_database_size(current_database())")
            size = int(cursor.fetchone()[0])
            log(f"orders: {stop:,} rows, {size / 2**20:.0f} MB")
            if size >= target * 0.8:  # the indexes bring it to the target
                break
        run("CREATE INDEX orders_customer_created ON orders (customer_id, created_at)")
        for n in range(small_tables):
            run(SMALL_SQL.format(n=n, rows=SMALL_ROWS))
        run("VACUUM ANALYZE")
        run("CHECKPOINT")
        run("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


@dataclass
class Way:
    """One way of backing up and restoring, with its timings per step."""

    label: str
    steps: dict[str, list[float]] = field(default_factory=dict)
    size: int = 0

    def add(self, step: str, seconds: float) -> None:
        self.steps.setdefault(step, []).append(seconds)

    def total(self, prefix: str, run: int) -> float:
        return sum(v[run] for k, v in self.steps.items() if k.startswith(prefix))


def timed_call(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def tee_dump(conn: Connection, path: Path) -> float:
    """pg_dump -Fc -Z1 to ``path`` and into pg_restore --file=/dev/null at once."""
    script = (
        "set -o pipefail; pg_dump --format=custom --compress=1 "
        + " ".join(conn.args())
        + f" {conn.dbname} | tee {path} | pg_restore --file={os.devnull}"
    )
    return timed(["bash", "-c", script], conn.env())


def pack(directory: Path, archive: Path) -> None:
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in sorted(directory.iterdir()):
            tar.add(member, arcname=member.name)


def unpack(archive: Path, directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")


def restore_args(target: Connection) -> list[str]:
    return ["--clean", "--if-exists", "--exit-on-error", *target.args(),
            f"--dbname={target.dbname}"]  # fmt: skip


def custom_run(conn: Connection, target: Connection, work: Path, way: Way) -> None:
    dump = work / "custom.dump"
    way.add("backup: dump + decode (tee)", tee_dump(conn, dump))
    way.size = dump.stat().st_size
    single = ["pg_restore", *restore_args(target), "--single-transaction", str(dump)]
    way.add("restore: pg_restore", timed(single, target.env()))


def parallel_run(
    conn: Connection, target: Connection, work: Path, way: Way, jobs: int
) -> None:
    directory, archive = work / "dir", work / "dir.tar"
    shutil.rmtree(directory, ignore_errors=True)
    argv = ["pg_dump", "--format=directory", "--compress=1", f"--jobs={jobs}",
            f"--file={directory}", *conn.args(), conn.dbname]  # fmt: skip
    way.add("backup: dump", timed(argv, conn.env()))
    decode = ["pg_restore", f"--file={os.devnull}", str(directory)]
    way.add("backup: decode", timed(decode))
    way.add("backup: pack tar", timed_call(lambda: pack(directory, archive)))
    way.size = archive.stat().st_size
    way.add("restore: unpack", timed_call(lambda: unpack(archive, directory)))
    multi = ["pg_restore", *restore_args(target), f"--jobs={jobs}", str(directory)]
    way.add("restore: pg_restore", timed(multi, target.env()))
    shutil.rmtree(directory, ignore_errors=True)


def report(ways: list[Way], runs: int, jobs: int) -> str:
    lines = [f"{'step':<32}{'custom s':>10}{f'dir -j{jobs} s':>12}"]
    lines.append("-" * len(lines[0]))
    custom, parallel = ways
    for way in ways:
        for step, values in way.steps.items():
            med = common.median(values)
            cells = (f"{med:.2f}", "") if way is custom else ("", f"{med:.2f}")
            lines.append(f"{step:<32}{cells[0]:>10}{cells[1]:>12}")
    for phase in ("backup", "restore"):
        pairs = [
            (custom.total(phase, r), parallel.total(phase, r)) for r in range(runs)
        ]
        ratios = ", ".join(f"{c / p:.2f}x" for c, p in pairs)
        c, p = (common.median([pair[i] for pair in pairs]) for i in (0, 1))
        lines.append(
            f"{phase + ' total':<32}{c:>10.2f}{p:>12.2f}   custom/dir per run: {ratios}"
        )
    lines.append(
        f"sizes: custom {custom.size / 2**20:.0f} MB, "
        f"directory tar {parallel.size / 2**20:.0f} MB"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--small-tables", type=int, default=300)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with common.postgresql_scratch("pgpar") as (tmp, dbs):
        conn = Connection.from_url(dbs.create("postgresql").url)
        target = Connection.from_url(dbs.create("postgresql").url)
        log(f"generating ~{args.size_mb} MB in {conn.dbname}")
        size = generate(conn, args.size_mb, args.small_tables)
        ways = [Way("custom"), Way(f"directory -j{args.jobs}")]
        log("first load of the restore target (untimed)")
        tee_dump(conn, tmp / "custom.dump")
        timed(["pg_restore", "--exit-on-error", *target.args(),
               f"--dbname={target.dbname}", str(tmp / "custom.dump")],
              target.env())  # fmt: skip
        for run in range(args.runs):
            log(f"run {run + 1}/{args.runs}")
            steps = [
                lambda: custom_run(conn, target, tmp, ways[0]),
                lambda: parallel_run(conn, target, tmp, ways[1], args.jobs),
            ]
            for step in steps if run % 2 == 0 else steps[::-1]:
                step()
        print(
            f"database {size / 2**20:.0f} MB (pg_database_size: 1 large table, "
            f"{args.small_tables} small ones), pg_dump {pg_version('pg_dump')}, "
            f"{os.cpu_count()} CPUs, median of {args.runs} runs, "
            f"{common.load_average()}"
        )
        print(report(ways, args.runs, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
