"""Benchmark: ``guardedmigrate`` vs ``migrate`` applying all to an empty database.

    python bench/apply.py [--backends sqlite,postgresql,mysql] [--runs 5] [--quick]

Generates a project (300 migrations in 10 apps) and, for every run of each
tool, creates a fresh empty scratch database, times the whole ``python
manage.py migrate`` / ``guardedmigrate`` subprocess that applies all migrations
(wall clock, and its CPU time, which other load on the machine barely
affects but which leaves out the database server's work), and drops the
database. The tools alternate; one untimed ``migrate`` per
backend warms up caches first. Prints a table of medians and
migration_guard/migrate ratios against the target (<= 1.05). Always exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import common
import genproject
from common import TOOLS, CommandFailed, Row, ScratchDatabases, log

TARGET = 1.05
DEFAULT_RUNS = 5


def apply_once(
    backend: str, project: Path, dbs: ScratchDatabases, tool: str, migrations: int
) -> common.Timed:
    db = dbs.create(backend)
    try:
        timed = common.run_manage(project, db.url, tool)
    finally:
        dbs.drop(db)
    applied = timed.stdout.count("  Applying ")
    if applied < migrations:
        raise CommandFailed(
            f"{tool} applied {applied} migrations, expected at least {migrations}:\n"
            + timed.stdout[-2000:]
        )
    return timed


def bench_backend(
    backend: str, project: Path, dbs: ScratchDatabases, runs: int, migrations: int
) -> list[Row]:
    log(f"[{backend}] warm-up migrate")
    apply_once(backend, project, dbs, "migrate", migrations)
    wall: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    cpu: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    for i in range(runs):
        for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
            timed = apply_once(backend, project, dbs, tool, migrations)
            wall[tool].append(timed.seconds)
            cpu[tool].append(timed.cpu)
            log(
                f"[{backend}] run {i + 1}/{runs} {tool}: {timed.seconds:.3f}s "
                f"(cpu {timed.cpu:.3f}s)"
            )
    return common.compare(backend, "wall", wall, TARGET) + common.compare(
        backend, "cpu", cpu, TARGET
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser, runs=DEFAULT_RUNS)
    args = parser.parse_args(argv)
    runs, migrations = common.resolve_sizes(args)
    rows: list[Row] = []
    load_before = common.load_average()
    with common.session(args, "apply") as (work, dbs):
        project = genproject.generate(
            work / "project", apps=args.apps, migrations=migrations
        )
        log(f"{project.describe()}; {runs} runs per tool")
        for backend in common.reachable(args.backends, rows):
            with common.failure_row(backend, rows):
                rows += bench_backend(
                    backend, project.path, dbs, runs, project.migrations
                )
    print(
        f"\nApply all from empty, migrate vs migration_guard: {project.migrations} "
        f"migrations in {len(project.apps)} apps, fresh database per run, "
        f"median of {runs} runs each (subprocess wall clock and CPU)"
    )
    print(common.versions_line(load_before))
    print(common.format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
