"""Benchmark: ``pg_dump -Fc`` compression levels and pg_restore-based verification.

    python bench/pg_compression.py [--size-mb 300] [--runs 3] [--levels 0,1,3,6,9]

guardedmigrate takes a backup before every deploy, so the dump is on the
critical path of every release: :data:`migration_guard.backup.postgresql.COMPRESSION`
is chosen from this benchmark. It creates a scratch database
(``smbench_pgcomp_<pid>_<n>``, dropped at the end) of about ``--size-mb`` MB
(``pg_database_size``) of mixed data generated server-side with
``generate_series``:

* ``orders``: bigint ids, timestamps, numerics, a status from a small set, a
  jsonb document of line items, and a note that is NULL, a repeated sentence
  or an md5 (hex: half-compressible);
* ``audit_log``: very repetitive rows (a few actions, paths and user agents),
  as logs and Django's admin log are;
* ``customers``: names and e-mails, unicode text, a small jsonb profile.

Then it times, round-robin so drift hits every variant alike, ``pg_dump -Fc``
at its default compression (gzip level 6) and at each ``--levels`` level, plus
``--compress=lz4``/``zstd`` when this pg_dump accepts them (PostgreSQL 16+),
and the verification candidates on each dump:

* ``pg_restore --list``: reads the header and table of contents only (a
  truncated dump passes it, so it is shown for scale, not as a candidate);
* ``pg_restore --file=/dev/null``: reads and decompresses every data block
  and writes the SQL script to /dev/null;
* ``pg_restore --data-only --file=/dev/null``: the same minus the schema
  text, to show whether skipping it is worth anything.

Prints medians of ``--runs`` runs (after one untimed warm-up dump), sizes,
and speed/size ratios against the default. Always drops its database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import log
from dataset import PG_AUDIT, PG_ORDER_FIELDS, PG_ORDER_ITEMS

DEFAULT_LEVELS = (0, 1, 3, 6, 9)
#: Rows per generation batch; the database size is checked between batches.
BATCH = 200_000

SCHEMA_SQL = """
CREATE TABLE customers (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    country char(2) NOT NULL,
    created_at timestamptz NOT NULL,
    balance numeric(12, 2),
    profile jsonb NOT NULL
);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    status text NOT NULL,
    total numeric(12, 2) NOT NULL,
    currency char(3) NOT NULL,
    created_at timestamptz NOT NULL,
    shipped_at timestamptz,
    items jsonb NOT NULL,
    note text
);
CREATE TABLE audit_log (
    id bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_id integer,
    action text NOT NULL,
    path text NOT NULL,
    user_agent text NOT NULL,
    status smallint NOT NULL
);
"""

CUSTOMERS_SQL = """
INSERT INTO customers
SELECT i,
       'user' || i || '@example.' || (ARRAY['com', 'org', 'fr', 'de'])[1 + i %% 4],
       (ARRAY['Zoë', 'José', 'Ana', 'Li', 'Müller', 'Øyvind', 'Иван', 'Sam'])
           [1 + (random() * 7)::int] || ' ' || md5(i::text)::varchar(8),
       (ARRAY['FR', 'DE', 'US', 'GB', 'JP', 'BR'])[1 + (random() * 5)::int],
       now() - random() * interval '3 years',
       round((random() * 10000)::numeric, 2),
       jsonb_build_object('newsletter', random() < 0.3, 'locale',
                          (ARRAY['fr-FR', 'en-US', 'de-DE'])[1 + i %% 3],
                          'score', (random() * 100)::int)
FROM generate_series(%(start)s, %(stop)s) AS i
"""

ORDERS_SQL = f"""
INSERT INTO orders
SELECT i,
       1 + (random() * 99999)::bigint,
       {PG_ORDER_FIELDS}
       now() - random() * interval '2 years',
       CASE WHEN random() < 0.7 THEN now() - random() * interval '1 year' END,
       {PG_ORDER_ITEMS},
       CASE (i %% 4)
           WHEN 0 THEN NULL
           WHEN 1 THEN 'Please leave the parcel at the front desk, thank you.'
           ELSE md5(i::text) || md5((i * 7)::text)
       END
FROM generate_series(%(start)s, %(stop)s) AS i
"""


@dataclass(frozen=True)
class Connection:
    """The scratch database: its URL and name, and how clients log in to it."""

    url: str
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> Connection:
        return cls(url, common._server(url)["dbname"])

    def args(self) -> list[str]:
        return common.client_login(self.url)[0]

    def env(self) -> dict[str, str]:
        return common.client_login(self.url)[1]

    def cursor(self) -> contextlib.AbstractContextManager[Any]:
        return common.cursor_on(self.url)


@dataclass
class Variant:
    """One way of running pg_dump, with its timings and the size of its dump."""

    label: str
    flags: list[str]
    dump: Path
    seconds: list[float] = field(default_factory=list)
    size: int = 0
    verify: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""


VERIFIERS: dict[str, list[str]] = {
    "list": ["--list"],
    "full": [f"--file={os.devnull}"],
    "data": ["--data-only", f"--file={os.devnull}"],
}


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise common.CommandFailed(
            f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return seconds


def generate(conn: Connection, size_mb: int) -> int:
    """Fill the database up to ``size_mb`` MB; return its size in bytes."""
    target = size_mb * 1024 * 1024
    with conn.cursor() as cursor:
        run = cursor.execute
        run("SELECT setseed(0.42)")
        run(SCHEMA_SQL)
        run(CUSTOMERS_SQL, {"start": 1, "stop": 100_000})
        start = 1
        while True:
            stop = start + BATCH - 1
            params = {"start": start, "stop": stop}
            run(ORDERS_SQL, params)
            run(PG_AUDIT, params)
            start = stop + 1
            run("SELECT pg_database_size(current_database())")
            size = int(cursor.fetchone()[0])
            log(f"generated {stop:,} rows per table: {size / 2**20:.0f} MB")
            if size >= target:
                break
        run("VACUUM ANALYZE")
        run("CHECKPOINT")
    return size


def supports(pg_dump: str, conn: Connection, method: str) -> str:
    """'' when this pg_dump accepts ``--compress=method``, else its error."""
    proc = subprocess.run(
        [pg_dump, "--format=custom", f"--compress={method}", "--schema-only",
         f"--file={os.devnull}", *conn.args(), conn.dbname],
        env=conn.env(),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode == 0:
        return ""
    lines = proc.stderr.strip().splitlines()
    return lines[0] if lines else f"exit status {proc.returncode}"


def pg_version(binary: str) -> str:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\)\s*(\S+)", out)
    return match.group(1) if match else out.strip()


def bench(conn: Connection, levels: Sequence[int], runs: int, work: Path) -> str:
    pg_dump, pg_restore = "pg_dump", "pg_restore"
    variants = [Variant("default (-Z6)", [], work / "default.dump")]
    variants += [
        Variant(f"-Z{level}", [f"--compress={level}"], work / f"z{level}.dump")
        for level in levels
    ]
    for method in ("lz4", "zstd"):
        error = supports(pg_dump, conn, method)
        variant = Variant(method, [f"--compress={method}"], work / f"{method}.dump")
        if error:
            variant.note = f"not supported: {error}"
            log(f"{method}: {variant.note}")
        variants.append(variant)
    usable = [v for v in variants if not v.note]

    def dump(variant: Variant) -> float:
        argv = [pg_dump, "--format=custom", *variant.flags,
                f"--file={variant.dump}", *conn.args(), conn.dbname]  # fmt: skip
        return timed(argv, conn.env())

    log("warm-up dump")
    dump(usable[0])
    for run in range(runs):
        order = usable if run % 2 == 0 else usable[::-1]
        for variant in order:
            variant.seconds.append(dump(variant))
            variant.size = variant.dump.stat().st_size
            log(f"run {run + 1}/{runs} {variant.label}: {variant.seconds[-1]:.2f}s")
    for run in range(runs):
        for variant in usable if run % 2 == 0 else usable[::-1]:
            for name, flags in VERIFIERS.items():
                seconds = timed([pg_restore, *flags, str(variant.dump)])
                variant.verify.setdefault(name, []).append(seconds)
    return table(variants)


def table(variants: Sequence[Variant]) -> str:
    base = variants[0]
    base_time = common.median(base.seconds)
    header = ("pg_dump -Fc", "size MB", "size/def", "dump s", "speed-up",
              "--list s", "verify s", "data-only s")  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for v in variants:
        if v.note:
            notes.append(f"{v.label}: {v.note}")
            continue
        seconds = common.median(v.seconds)
        rows.append(
            (
                v.label,
                f"{v.size / 2**20:.1f}",
                f"{v.size / base.size:.2f}",
                f"{seconds:.2f}",
                f"{base_time / seconds:.2f}x",
                f"{common.median(v.verify['list']):.2f}",
                f"{common.median(v.verify['full']):.2f}",
                f"{common.median(v.verify['data']):.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [f"{row[0]:<{widths[0]}}"]
        cells += [f"{c:>{w}}" for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=list(DEFAULT_LEVELS),
        help="gzip levels to time (default 0,1,3,6,9)",
    )
    args = parser.parse_args(argv)
    with common.postgresql_scratch("pgcomp") as (tmp, dbs):
        db = dbs.create("postgresql")
        conn = Connection.from_url(db.url)
        log(f"generating ~{args.size_mb} MB in {db.name}")
        started = time.perf_counter()
        size = generate(conn, args.size_mb)
        log(f"generated in {time.perf_counter() - started:.0f}s")
        result = bench(conn, args.levels, args.runs, tmp)
    print(
        f"database {size / 2**20:.0f} MB (pg_database_size), pg_dump "
        f"{pg_version('pg_dump')}, {os.cpu_count()} CPUs, median of {args.runs} "
        "runs; speed-up = default time / time; verify = pg_restore --file=/dev/null"
    )
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
