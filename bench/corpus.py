"""Benchmark: ``reconcile`` on the corpus project against a no-op ``migrate``.

    python bench/corpus.py [--backends sqlite,postgresql,mysql] [--runs 7]
                           [--keep] [--ref REF]

The corpus (``tests/corpus``: 22 third-party apps from PyPI and four apps of
its own, installed by ``make corpus-deps``) is migrated from empty once per
backend by Django's ``migrate``; then, in alternating order, whole
``python manage.py`` processes (Python's and Django's start-up included):

* ``manage.py migrate``: nothing to apply (Django loads the graph, runs the
  system checks, the autodetector's check for model changes and the
  ``post_migrate`` handlers);
* ``manage.py reconcile``: every migration's effect (one walk over the
  graph, no model rendered) against the live schema; target <= 1.3x the
  no-op ``migrate`` on PostgreSQL and MariaDB (SQLite reported too).

Every reconcile run is checked: exit 0, every migration classified, no drift.
Prints the table (median wall and CPU per tool, ratios) and writes it to
bench/results/. Always exits 0.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import common
from common import CommandFailed, Row, ScratchDatabases, Timed, log

TARGET = 1.3
DEFAULT_RUNS = 7
CORPUS = common.REPO_ROOT / "tests" / "corpus"
SETTINGS = {
    "DJANGO_SETTINGS_MODULE": "corpusproject.settings",
    "PYTHONWARNINGS": "ignore",
}
SUMMARY = re.compile(
    r"Summary: (\d+) applied, 0 drift, 0 fakeable, 0 pending, 0 partial"
)


def manage(url: str, *args: str) -> Timed:
    return common.run_manage(CORPUS, url, *args, env=SETTINGS)


def check_reconcile(stdout: str) -> None:
    if SUMMARY.search(stdout) is None:
        raise CommandFailed(
            "reconcile did not find the corpus clean:\n" + stdout[-2000:]
        )


def bench_backend(backend: str, dbs: ScratchDatabases, runs: int) -> list[Row]:
    db = dbs.create(backend)
    started = time.perf_counter()
    manage(db.url, "migrate", "--noinput", "-v", "0")
    log(f"[{backend}] migrated from empty in {time.perf_counter() - started:.1f} s")
    tools = {"migrate": ("migrate", "--noinput"), "reconcile": ("reconcile",)}
    wall: dict[str, list[float]] = {tool: [] for tool in tools}
    cpu: dict[str, list[float]] = {tool: [] for tool in tools}
    for i in range(runs + 1):  # the first round warms the caches, untimed
        for tool in list(tools) if i % 2 == 0 else list(tools)[::-1]:
            timed = manage(db.url, *tools[tool])
            if tool == "reconcile":
                check_reconcile(timed.stdout)
            if i:
                wall[tool].append(timed.seconds)
                cpu[tool].append(timed.cpu)
        if i:
            log(
                f"[{backend}] run {i}: migrate {wall['migrate'][-1]:.2f} s, "
                f"reconcile {wall['reconcile'][-1]:.2f} s"
            )
    dbs.drop(db)
    rows = common.compare(backend, "wall", wall, TARGET)
    cpu_rows = common.compare(backend, "CPU", cpu, TARGET)
    return rows + cpu_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        type=common.parse_backends,
        default=list(common.BACKENDS),
        help="comma-separated: sqlite, postgresql, mysql (default: all three)",
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--ref", default=None, help="benchmark migration_guard/ of REF")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    load_before = common.load_average()
    began = time.perf_counter()
    with (
        common.workdir(args.keep, "corpus") as work,
        ScratchDatabases(work, "corpus") as dbs,
    ):
        common.use_ref(args.ref, work)
        common.corpus_backups(work)
        for backend in args.backends:
            try:
                problem = common.check_backend(backend)
                if problem is not None:
                    raise CommandFailed(f"unreachable: {problem}")
                rows += bench_backend(backend, dbs, args.runs)
            except Exception as exc:
                log(f"[{backend}] skipped: {exc}")
                rows.append(Row(backend, f"({str(exc)[:80]})", None))
    report = "\n".join(
        [
            f"reconcile vs a no-op migrate on the corpus project (tests/corpus); "
            f"median of {args.runs} manage.py runs each",
            f"migration_guard {common.code_version()}, "
            f"Python {sys.version.split()[0]}, "
            f"{load_before} before / {common.load_average()} after, "
            f"{(time.perf_counter() - began) / 60:.1f} min",
            common.format_table(rows),
        ]
    )
    print("\n" + report)
    common.RESULTS_DIR.mkdir(exist_ok=True)
    path = Path(common.RESULTS_DIR / f"corpus-{time.strftime('%Y%m%d-%H%M%S')}.txt")
    path.write_text(report + "\n")
    log(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
