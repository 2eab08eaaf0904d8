"""Benchmark: ``checkmigrations --roundtrip`` vs ``migrate`` of the same migrations.

    python bench/roundtrip.py [--backends sqlite,postgresql] [--runs 3] [--quick]

Generates a project (300 migrations in 10 apps) and, for every run, times two
subprocesses on a fresh empty scratch database:

* ``manage.py migrate``: every migration applied forwards once;
* ``manage.py checkmigrations --roundtrip --format json``: the static gates,
  then, on a scratch database migration_guard creates next to it (a temporary
  SQLite file, or ``test_<name>`` on PostgreSQL), every migration of the
  project's apps applied, unapplied, compared and re-applied (Django's own
  migrations are applied forwards only, as under ``migrate``).

A round trip applies every migration twice and unapplies it once, so the
target is <= 3.5x the forward-only time. The tools alternate; one untimed
``migrate`` per backend warms up caches first. Prints the medians, the time
per migration and the ratio, and writes the table to
``bench/results/roundtrip-<backend list>.txt``. Exits 1 when a round trip
reports a failure (the generated migrations all round-trip cleanly).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import common
import genproject
from common import CommandFailed, Row, ScratchDatabases, log

TARGET = 3.5
DEFAULT_RUNS = 3
TOOLS = ("migrate", "roundtrip")


def run_once(
    backend: str, project: Path, dbs: ScratchDatabases, tool: str, migrations: int
) -> tuple[common.Timed, dict[str, float]]:
    """One timed run on a fresh database; (timing, round trip figures)."""
    db = dbs.create(backend)
    try:
        if tool == "migrate":
            timed = common.run_manage(project, db.url, "migrate")
            applied = timed.stdout.count("  Applying ")
            if applied < migrations:
                raise CommandFailed(f"migrate applied {applied} of {migrations}")
            return timed, {}
        # exit 2 is the static gates' findings on the generated migrations
        # (they mix deploy phases, add indexes without CONCURRENTLY...): the
        # round trip itself must be clean
        timed = common.run_manage(
            project, db.url, "checkmigrations", "--roundtrip", "--format", "json",
            ok=(0, 2),
        )  # fmt: skip
    finally:
        dbs.drop(db)
    document = json.loads(timed.stdout)
    roundtrip = document["checks"]["roundtrip"]
    results = roundtrip["migrations"]
    failed = {k: v for k, v in roundtrip["summary"].items() if k != "ok" and v}
    if len(results) != migrations or failed:
        raise CommandFailed(
            f"round trip checked {len(results)} of {migrations} migrations: "
            f"{failed or 'all ok'}"
        )
    figures = {
        key: sum(result["seconds"][key] for result in results)
        for key in ("apply", "unapply", "reapply")
    }
    figures["engine"] = roundtrip["seconds"]
    return timed, figures


def bench_backend(
    backend: str, project: Path, dbs: ScratchDatabases, runs: int, migrations: int
) -> tuple[list[Row], list[str]]:
    log(f"[{backend}] warm-up migrate")
    run_once(backend, project, dbs, "migrate", migrations)
    wall: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    cpu: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    figures: list[dict[str, float]] = []
    for i in range(runs):
        for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
            timed, numbers = run_once(backend, project, dbs, tool, migrations)
            wall[tool].append(timed.seconds)
            cpu[tool].append(timed.cpu)
            if numbers:
                figures.append(numbers)
            log(
                f"[{backend}] run {i + 1}/{runs} {tool}: {timed.seconds:.3f}s "
                f"(cpu {timed.cpu:.3f}s)"
            )
    rows = common.compare(backend, "wall", wall, TARGET) + common.compare(
        backend, "cpu", cpu, TARGET
    )

    def med(key: str) -> float:
        return common.median([f[key] for f in figures])

    per = 1000 / migrations
    notes = [
        f"{backend}: per migration, wall: migrate "
        f"{common.median(wall['migrate']) * per:.1f} ms, round trip "
        f"{common.median(wall['roundtrip']) * per:.1f} ms; inside the round trip "
        f"(medians): apply {med('apply') * per:.1f} ms, unapply "
        f"{med('unapply') * per:.1f} ms, re-apply {med('reapply') * per:.1f} ms, "
        f"engine total {med('engine'):.2f} s",
    ]
    return rows, notes


def measure(
    backend: str, project: Path, dbs: ScratchDatabases, runs: int, migrations: int
) -> tuple[list[Row], list[str], bool]:
    """Rows and notes of one backend, and whether it failed."""
    problem = common.check_backend(backend)
    if problem is not None:
        log(f"[{backend}] skipped: {problem}")
        return [Row(backend, "(server unreachable)", None)], [], False
    try:
        rows, notes = bench_backend(backend, project, dbs, runs, migrations)
    except Exception as exc:
        log(f"[{backend}] failed: {exc}")
        return [Row(backend, f"({type(exc).__name__})", None)], [], True
    return rows, notes, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser, runs=DEFAULT_RUNS)
    args = parser.parse_args(argv)
    runs, migrations = common.resolve_sizes(args)
    results: list[tuple[list[Row], list[str], bool]] = []
    load_before = common.load_average()
    with common.session(args, "roundtrip") as (work, dbs):
        project = genproject.generate(
            work / "project", apps=args.apps, migrations=migrations
        )
        log(f"project {project.path}: {project.migrations} migrations, {runs} runs")
        results = [
            measure(backend, project.path, dbs, runs, project.migrations)
            for backend in args.backends
        ]
    rows = [row for found, _, _ in results for row in found]
    notes = [note for _, more, _ in results for note in more]
    failed = any(broke for _, _, broke in results)
    lines = [
        f"checkmigrations --roundtrip vs migrate (forward only): "
        f"{project.migrations} migrations in {len(project.apps)} apps, fresh "
        f"database per run, median of {runs} runs each (subprocess wall clock "
        "and CPU; CPU leaves out the database server)",
        common.versions_line(load_before),
        common.format_table(rows),
        *notes,
    ]
    text = "\n".join(lines)
    print("\n" + text)
    common.RESULTS_DIR.mkdir(exist_ok=True)
    name = "roundtrip-" + "-".join(args.backends) + ("-quick" if args.quick else "")
    (common.RESULTS_DIR / f"{name}.txt").write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
