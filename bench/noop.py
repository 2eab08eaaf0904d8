"""Benchmark: ``guardedmigrate`` vs ``migrate`` with nothing to apply.

    python bench/noop.py [--backends sqlite,postgresql,mysql] [--runs 7] [--quick]

Generates a project (300 migrations in 10 apps), migrates a scratch database
of each backend fully once, then times ``manage.py migrate`` and ``manage.py
migration_guard`` with nothing pending, alternating them:

* wall: the whole ``python manage.py ...`` subprocess, what a deploy pays;
* cpu: the CPU time of that subprocess (barely affected by other load on the
  machine, but blind to time spent in the database server);
* in-process / in-process cpu: ``call_command(...)`` in one warmed-up Django
  process (system checks included, connections closed before each call), so
  the ratio is not drowned in interpreter and Django start-up.

Prints a table of medians and migration_guard/migrate ratios against the target
(<= 1.05). ``--profile`` also runs both in-process under cProfile and prints
where migration_guard spends more time than migrate. Always exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import common
import genproject
from common import TOOLS, CommandFailed, Row, ScratchDatabases, log

TARGET = 1.05
DEFAULT_RUNS = 7
#: In-process calls are cheap and noisier: take more of them.
DEFAULT_INPROC_RUNS = 21
QUICK_INPROC_RUNS = 5


def bench_backend(
    backend: str,
    project: Path,
    dbs: ScratchDatabases,
    runs: int,
    inproc_runs: int,
    profile: bool,
) -> tuple[list[Row], str]:
    db = dbs.create(backend)
    try:
        log(f"[{backend}] migrating {db.name} fully once")
        common.run_manage(project, db.url, "migrate", "-v0")
        for tool in TOOLS:  # warm-up: OS caches, server, ledger table
            common.run_manage(project, db.url, tool)
        wall: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        cpu: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for i in range(runs):
            for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
                timed = common.run_manage(project, db.url, tool)
                if "No migrations to apply." not in timed.stdout:
                    raise CommandFailed(
                        f"{tool} had something to do on a migrated database:\n"
                        + timed.stdout[-2000:]
                    )
                wall[tool].append(timed.seconds)
                cpu[tool].append(timed.cpu)
        for tool in TOOLS:
            log(f"[{backend}] wall {tool}: {common.describe_runs(wall[tool])}")
            log(f"[{backend}] cpu {tool}: {common.describe_runs(cpu[tool])}")
        inproc = common.time_in_process(project, db.url, TOOLS, inproc_runs)
        for measure, times in inproc.items():
            for tool in TOOLS:
                log(
                    f"[{backend}] in-process {measure} {tool}: "
                    f"{common.describe_runs(times[tool])}"
                )
        rows = common.compare(backend, "wall", wall, TARGET)
        rows += common.compare(backend, "cpu", cpu, TARGET)
        rows += common.compare(backend, "in-process", inproc["wall"], TARGET)
        rows += common.compare(backend, "in-process cpu", inproc["cpu"], TARGET)
        report = ""
        if profile:
            with tempfile.TemporaryDirectory(prefix="smbench_prof_") as tmp:
                common.time_in_process(
                    project, db.url, TOOLS, inproc_runs, profile_dir=Path(tmp)
                )
                report = (
                    f"\nProfile ({backend}, {inproc_runs} in-process calls of "
                    "each, under cProfile): where migration_guard's time goes\n"
                    + common.profile_diff(
                        Path(tmp) / "migrate.prof", Path(tmp) / "migration_guard.prof"
                    )
                )
        return rows, report
    finally:
        dbs.drop(db)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser, runs=DEFAULT_RUNS)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile both in-process and print where migration_guard is slower",
    )
    parser.add_argument(
        "--inproc-runs",
        type=int,
        default=None,
        help=f"in-process calls per tool (default {DEFAULT_INPROC_RUNS}, "
        f"{QUICK_INPROC_RUNS} with --quick)",
    )
    args = parser.parse_args(argv)
    runs, migrations = common.resolve_sizes(args)
    inproc_runs = args.inproc_runs or (
        QUICK_INPROC_RUNS if args.quick else DEFAULT_INPROC_RUNS
    )
    rows: list[Row] = []
    reports: list[str] = []
    load_before = common.load_average()
    with common.session(args, "noop") as (work, dbs):
        project = genproject.generate(
            work / "project", apps=args.apps, migrations=migrations
        )
        log(f"{project.describe()}; {runs} runs per tool ({inproc_runs} in-process)")
        for backend in common.reachable(args.backends, rows):
            with common.failure_row(backend, rows):
                backend_rows, report = bench_backend(
                    backend, project.path, dbs, runs, inproc_runs, args.profile
                )
                rows += backend_rows
                reports.append(report)
    print(
        f"\nNo-op migrate vs migration_guard: {project.migrations} migrations in "
        f"{len(project.apps)} apps; median of {runs} runs each (wall), "
        f"{inproc_runs} calls each (in-process)"
    )
    print(common.versions_line(load_before))
    print(common.format_table(rows))
    for report in reports:
        if report:
            print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
