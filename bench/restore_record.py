"""Benchmark: what recording and checking a backup's content costs.

    python bench/restore_record.py [--backends sqlite,postgresql,mysql]
                                   [--rows 300000] [--runs 3]

A scratch database per backend (``smbench_record_<pid>``, dropped at the
end) gets a table of ``--rows`` rows (text, numbers, a JSON document) and a
second of a tenth of that, filled server-side. Then, in the same run,
alternating the two variants each round:

* backup: ``create_backup`` as it is (rows per table read from the file,
  schema fingerprint) against the same call with both recordings switched
  off (what it did before);
* check before a restore: ``verify_backup(full=True)`` (the whole file read
  as it will be loaded, rows counted) against ``full=False`` (size and
  sha256 only, what a restore checked before);
* restore: ``restore_backup`` as it is (schema and rows compared after the
  load) against the same with the comparison switched off.

Prints the medians and the ratios. Always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILL = {
    "postgresql": [
        "CREATE TABLE big (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
        " doc jsonb)",
        "INSERT INTO big SELECT i, 'name ' || i || repeat('x', i % 50), i * 1.5,"
        " jsonb_build_object('k', i, 'tags', jsonb_build_array('a', 'b'))"
        " FROM generate_series(1, {rows}) AS i",
        "CREATE TABLE small (id bigint PRIMARY KEY, big_id bigint REFERENCES big,"
        " note text)",
        "INSERT INTO small SELECT i, i, md5(i::text)"
        " FROM generate_series(1, {tenth}) AS i",
    ],
    "mysql": [
        "CREATE TABLE big (id bigint PRIMARY KEY, name text, amount decimal(12,2),"
        " doc longtext CHECK (json_valid(doc)))",
        "INSERT INTO big SELECT seq, CONCAT('name ', seq, REPEAT('x', seq % 50)),"
        " seq * 1.5, JSON_OBJECT('k', seq, 'tags', JSON_ARRAY('a', 'b'))"
        " FROM seq_1_to_{rows}",
        "CREATE TABLE small (id bigint PRIMARY KEY, big_id bigint, note text,"
        " FOREIGN KEY (big_id) REFERENCES big (id))",
        "INSERT INTO small SELECT seq, seq, MD5(seq) FROM seq_1_to_{tenth}",
    ],
    "sqlite": [
        "CREATE TABLE big (id integer PRIMARY KEY, name text, amount decimal,"
        " doc text)",
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s"
        " WHERE i < {rows}) INSERT INTO big SELECT i, 'name ' || i ||"
        " substr(hex(zeroblob(50)), 1, i % 50), i * 1.5,"
        " json_object('k', i, 'tags', json_array('a', 'b')) FROM s",
        "CREATE TABLE small (id integer PRIMARY KEY, big_id integer REFERENCES big,"
        " note text)",
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s"
        " WHERE i < {tenth}) INSERT INTO small SELECT i, i, hex(randomblob(16))"
        " FROM s",
    ],
}


def settings_for(vendor: str, name: str) -> dict[str, Any]:
    if vendor == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    engine = "postgresql" if vendor == "postgresql" else "mysql"
    return {
        "ENGINE": f"django.db.backends.{engine}",
        "NAME": name,
        "HOST": "127.0.0.1",
        "PORT": "5432" if vendor == "postgresql" else "3306",
        "USER": "root",
        "PASSWORD": "",
        **({"OPTIONS": {"charset": "utf8mb4"}} if vendor == "mysql" else {}),
    }


@contextlib.contextmanager
def scratch(vendor: str, workdir: Path) -> Iterator[str]:
    name = f"smbench_record_{os.getpid()}"
    if vendor == "sqlite":
        yield str(workdir / f"{name}.sqlite3")
        return
    from tests import backends

    server = backends.server(vendor)
    server.create(name)
    try:
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        server.drop(name)


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def without_record() -> contextlib.ExitStack:
    """create_backup and restore_backup as before: nothing recorded or compared."""
    stack = contextlib.ExitStack()
    from migration_guard.backup import base, mysql, postgresql, sqlite

    for cls in (
        base.BackupBackend,
        mysql.MySQLBackend,
        postgresql.PostgreSQLBackend,
        sqlite.SQLiteBackend,
    ):
        stack.enter_context(mock.patch.object(cls, "read_rows", return_value={}))
    stack.enter_context(
        mock.patch("migration_guard.backup.fingerprint.schema", return_value={})
    )
    stack.enter_context(
        mock.patch("migration_guard.backup.fingerprint.mysql_checks", return_value={})
    )
    return stack


def bench(vendor: str, rows: int, runs: int, workdir: Path) -> list[str]:
    from django.db import connections

    from migration_guard.backup import catalog
    from migration_guard.backup.storage import get_store

    with scratch(vendor, workdir) as name:
        connections.settings["default"] = connections.configure_settings(
            {"default": settings_for(vendor, name)}
        )["default"]
        del connections["default"]
        with connections["default"].cursor() as cursor:
            for sql in FILL[vendor]:
                cursor.execute(sql.format(rows=rows, tenth=rows // 10))
        if vendor == "sqlite":
            connections["default"].commit()
        times: dict[str, list[float]] = {}
        manifests = {}
        for round_ in range(runs):
            order = ["with", "without"] if round_ % 2 == 0 else ["without", "with"]
            for variant in order:
                with (
                    without_record()
                    if variant == "without"
                    else contextlib.nullcontext()
                ):
                    manifest = None

                    def backup() -> None:
                        nonlocal manifest
                        manifest = catalog.create_backup("default", reason="bench")

                    times.setdefault(f"backup {variant}", []).append(timed(backup))
                    assert manifest is not None
                    manifests[variant] = manifest
                    times.setdefault(f"restore {variant}", []).append(
                        timed(lambda m=manifest: catalog.restore_backup("default", m))
                    )
            recorded = manifests["with"]
            for full in (True, False):
                label = "check full" if full else "check sha256"
                times.setdefault(label, []).append(
                    timed(lambda f=full, m=recorded: catalog.verify_backup(m, full=f))
                )
        size = manifests["with"].size
        for manifest in get_store().manifests():
            get_store().delete(manifest)

    def med(label: str) -> float:
        return statistics.median(times[label])

    return [
        f"{vendor}: {rows} + {rows // 10} rows, backup file {size / 1e6:.1f} MB, "
        f"medians of {runs}",
        f"  backup   with record {med('backup with'):.2f}s, without "
        f"{med('backup without'):.2f}s, ratio "
        f"{med('backup with') / med('backup without'):.2f}",
        f"  restore  with comparison {med('restore with'):.2f}s, without "
        f"{med('restore without'):.2f}s, ratio "
        f"{med('restore with') / med('restore without'):.2f}",
        f"  check before restore: full {med('check full'):.2f}s, sha256 only "
        f"{med('check sha256'):.2f}s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smbench-") as tmp:
        import django
        from django.conf import settings

        settings.configure(
            DATABASES={"default": settings_for("sqlite", ":memory:")},
            INSTALLED_APPS=["migration_guard"],
            MIGRATION_GUARD={"BACKUP_DIR": str(Path(tmp) / "backups")},
            USE_TZ=True,
        )
        django.setup()
        for vendor in args.backends.split(","):
            for line in bench(vendor, args.rows, args.runs, Path(tmp)):
                print(line, flush=True)
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
