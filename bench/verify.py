"""Benchmark: ``manage.py reconcile`` vs one pass of Django's per-table introspection.

    python bench/verify.py [--backends postgresql,mysql] [--runs 7]
                           [--part-runs 5] [--migrations 300] [--apps 9]
                           [--seed 1] [--quick] [--keep] [--ref REF]

Generates a project (300 migrations in 9 apps, seed 1: 61 models, 70 tables
with Django's own), migrates a scratch database of each backend once, then
compares, in rotating order, whole ``python manage.py`` processes (so all
pay Python's and Django's start-up):

* ``manage.py reconcile``: loads the migration graph, walks it once for the
  effect of every migration, reads the live schema of the tables those
  touch, classifies every migration; targets <= 1.2x the baseline and, on
  PostgreSQL, under 2 s of wall time;
  ``reconcile`` runs no system checks (like ``rollbackplan``), the baseline
  none either;
* the baseline, ``manage.py shell --no-imports -c PASS``: one pass of the
  calls ``inspectdb`` makes per table (``get_relations``,
  ``get_constraints``, ``get_primary_key_columns``,
  ``get_table_description``) over every table of the project's models,
  after one ``get_table_list``, and nothing else.

Then, in fresh processes (``--part-runs`` of them, medians), the parts of
``reconcile`` as the command runs them: Django set-up,
graph load (the executor, its loader, the migration modules and the
``django_migrations`` rows), graph
order, the deltas walk, the live snapshot, and the classification (what
``reconcile()`` does besides); for reference, the same snapshot through the
per-table path and the baseline's pass in-process.

Every reconcile run is checked: exit 0, every migration classified, no drift.
Prints the table with ratios and targets and writes it to bench/results/.
``--quick``: 100 migrations, 2 runs, 1 part run. Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import genproject
from common import CommandFailed, ScratchDatabases, log
from preview import django_child

RATIO_TARGET = 1.2
PG_WALL_TARGET = 2.0
DEFAULT_RUNS = 7
DEFAULT_PART_RUNS = 5
APPS, SEED = 9, 1  # with 300 migrations: 61 models
BASELINE = "introspection pass"
RECONCILE = "reconcile"
MARKER = "SMBENCH"

#: The baseline: inspectdb's introspection calls for every table of the
#: project's models (the tables reconcile may read), in one Django process.
PASS_SCRIPT = r"""
import json, time
from django.apps import apps
from django.db import connections

connection = connections["default"]

started = time.perf_counter()
wanted = {
    model._meta.db_table
    for model in apps.get_models(include_auto_created=True)
    if model._meta.managed and not model._meta.proxy and not model._meta.swapped
}
introspection = connection.introspection
with connection.cursor() as cursor:
    existing = {
        info.name for info in introspection.get_table_list(cursor)
        if info.type == "t"
    }
    tables = sorted(wanted & existing)
    for table in tables:
        introspection.get_relations(cursor, table)
        introspection.get_constraints(cursor, table)
        introspection.get_primary_key_columns(cursor, table)
        introspection.get_table_description(cursor, table)
print("__MARKER__" + json.dumps(
    {"tables": len(tables), "seconds": time.perf_counter() - started}
))
""".replace("__MARKER__", MARKER)

#: One cold process: the parts of reconcile as the command runs them.
PARTS_SCRIPT = r"""
import json, sys, time
started = time.perf_counter()
import django
django.setup()
spans = {"Django set-up": time.perf_counter() - started}
from django.db import connections
import migration_guard.reconcile.verdict as rec
from migration_guard.run.planning import load
from migration_guard.reconcile.schema.backends import backend_for
from migration_guard.reconcile.schema.backends.base import SchemaBackend

def clocked(name, function):
    def call(*args, **kwargs):
        began = time.perf_counter()
        result = function(*args, **kwargs)
        spans[name] = time.perf_counter() - began
        return result
    return call

rec.graph_order = clocked("graph order", rec.graph_order)
rec.migration_deltas = clocked("deltas walk", rec.migration_deltas)
rec.snapshot = clocked("live snapshot", rec.snapshot)
began = time.perf_counter()
loader = load("default").loader
connection = connections["default"]
spans["graph load"] = time.perf_counter() - began
began = time.perf_counter()
result = rec.reconcile(loader, connection)
spans["classification"] = time.perf_counter() - began - sum(
    spans[name] for name in ("graph order", "deltas walk", "live snapshot")
)
names = sorted(result.live)
with connection.cursor() as cursor:
    began = time.perf_counter()
    SchemaBackend.read(backend_for(connection), cursor, names)
    spans["live snapshot, per-table path"] = time.perf_counter() - began
import contextlib, io
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    exec(sys.argv[1])  # the baseline's pass, in this warm process
spans["introspection pass, in-process"] = json.loads(
    printed.getvalue().split("__MARKER__")[-1]
)["seconds"]
print("__MARKER__" + json.dumps(spans))
""".replace("__MARKER__", MARKER)

SUMMARY = re.compile(r"Summary: (.*)\.$", re.MULTILINE)
TABLES_READ = re.compile(r"\((\d+) tables read\)")


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


HEADER = ("backend", "measure", "median s", "cpu s", "ratio", "target", "result")


def line(
    backend: str,
    measure: str,
    seconds: float | None,
    cpu: float | None = None,
    ratio: float | None = None,
    target: str = "",
    verdict: str = "",
) -> tuple[str, ...]:
    """One row of the table, as text cells (see HEADER)."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    return (backend, measure, number(seconds) or "-", number(cpu), number(ratio),
            target, verdict)  # fmt: skip


def parse_summary(stdout: str) -> dict[str, int]:
    """``{"applied": 295, "drift": 0, ...}`` from reconcile's last line."""
    found = SUMMARY.search(stdout)
    if found is None:
        raise CommandFailed(f"reconcile printed no summary:\n{stdout[-2000:]}")
    counts = {}
    for part in found.group(1).split(", "):
        number, _, status = part.partition(" ")
        counts[status] = int(number)
    return counts


def check_reconcile(stdout: str, migrations: int) -> str:
    """Why a reconcile run is wrong, or ''."""
    counts = parse_summary(stdout)
    problems = [
        f"{counts[status]} {status}"
        for status in ("drift", "fakeable", "pending", "partial")
        if counts.get(status)
    ]
    if sum(counts.values()) < migrations:
        problems.append(f"{sum(counts.values())} migrations classified")
    return ", ".join(problems)


def marker_json(stdout: str) -> dict[str, Any]:
    found = [text for text in stdout.splitlines() if text.startswith(MARKER)]
    if not found:
        raise CommandFailed(f"no {MARKER} line in:\n{stdout[-2000:]}")
    result: dict[str, Any] = json.loads(found[-1][len(MARKER) :])
    return result


def run_parts(project: Path, url: str) -> dict[str, float]:
    """One cold process timing the parts (see PARTS_SCRIPT)."""
    stdout = django_child(project, url, PARTS_SCRIPT, PASS_SCRIPT)
    return {k: float(v) for k, v in marker_json(stdout).items()}


def bench_backend(
    backend: str,
    project: genproject.GeneratedProject,
    dbs: ScratchDatabases,
    runs: int,
    part_runs: int,
) -> list[tuple[str, ...]]:
    tag = f"[{backend}]"
    db = dbs.create(backend)
    try:
        log(f"{tag} migrating {db.name} ({common.load_average()})")
        began = time.perf_counter()
        common.run_manage(project.path, db.url, "migrate", "-v0")
        log(f"{tag} migrated in {time.perf_counter() - began:.1f}s")
        commands = {
            BASELINE: ("shell", "--no-imports", "-c", PASS_SCRIPT),
            RECONCILE: ("reconcile", "--no-color"),
        }
        samples = {label: Samples() for label in commands}
        tables: dict[str, set[int]] = {label: set() for label in commands}
        problems = set()
        for i in range(runs + 1):  # the first round warms caches, untimed
            order = (
                list(commands)[i % len(commands) :]
                + list(commands)[: i % len(commands)]
            )
            for label in order:
                timed = common.run_manage(project.path, db.url, *commands[label])
                if label == BASELINE:
                    tables[label].add(marker_json(timed.stdout)["tables"])
                else:
                    problem = check_reconcile(timed.stdout, project.migrations)
                    if problem:
                        problems.add(problem)
                    read = TABLES_READ.search(timed.stdout)
                    tables[label].add(int(read.group(1)) if read else -1)
                if i:
                    samples[label].wall.append(timed.seconds)
                    samples[label].cpu.append(timed.cpu)
                    log(f"{tag} {label}: {timed.seconds:.3f}s cpu {timed.cpu:.3f}s")
        parts: dict[str, list[float]] = {}
        for _ in range(part_runs):
            for name, seconds in run_parts(project.path, db.url).items():
                parts.setdefault(name, []).append(seconds)
        for label, values in samples.items():
            log(f"{tag} {label}: wall {common.describe_runs(values.wall)}")
        base = common.median(samples[BASELINE].wall)
        wall = common.median(samples[RECONCILE].wall)
        ratio = wall / base
        verdict = "PASS" if ratio <= RATIO_TARGET else "FAIL"
        if problems:
            verdict += " (reconcile: " + "; ".join(sorted(problems)) + ")"
        rows = [
            line(
                backend,
                f"{BASELINE} ({sorted(tables[BASELINE])} tables), wall",
                base,
                common.median(samples[BASELINE].cpu),
            ),
            line(
                backend,
                f"manage.py reconcile ({sorted(tables[RECONCILE])} tables read)",
                wall,
                common.median(samples[RECONCILE].cpu),
                ratio,
                f"<= {RATIO_TARGET:.2f}",
                verdict,
            ),
        ]
        if backend == "postgresql":
            rows.append(
                line(
                    backend,
                    "manage.py reconcile, absolute wall",
                    wall,
                    target=f"< {PG_WALL_TARGET:.1f} s",
                    verdict="PASS" if wall < PG_WALL_TARGET else "FAIL",
                )
            )
        for name, values in parts.items():
            rows.append(line(backend, f"  part: {name}", common.median(values)))
        return rows
    finally:
        dbs.drop(db)


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Measures left-aligned, numbers right-aligned, a rule under the header."""
    table = [HEADER, *rows]
    widths = [max(map(len, column)) for column in zip(*table, strict=True)]
    spec = "  ".join(
        [f"{{:<{w}}}" for w in widths[:2]]
        + [f"{{:>{w}}}" for w in widths[2:-1]]
        + ["{}"]
    )
    text = [spec.format(*row).rstrip() for row in table]
    text.insert(1, "-" * max(map(len, text)))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_arguments(parser, runs=DEFAULT_RUNS)
    parser.set_defaults(backends=["postgresql", "mysql"], apps=APPS)
    parser.add_argument(
        "--part-runs", type=int, default=None, help="processes timing the parts"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    runs, migrations = common.resolve_sizes(args)
    part_runs = args.part_runs or (1 if args.quick else DEFAULT_PART_RUNS)
    rows: list[tuple[str, ...]] = []
    load_before = common.load_average()
    began = time.perf_counter()
    with common.session(args, "verify") as (work, dbs):
        project = genproject.generate(
            work / "project", args.apps, migrations, seed=args.seed
        )
        log(project.describe())
        unreachable = {name: common.check_backend(name) for name in args.backends}
        for backend, problem in unreachable.items():
            try:
                if problem is not None:
                    raise CommandFailed(f"unreachable: {problem}")
                rows += bench_backend(backend, project, dbs, runs, part_runs)
            except Exception as exc:
                log(f"[{backend}] skipped: {exc}")
                rows.append(line(backend, f"({str(exc)[:80]})", None))
    report = "\n".join(
        [
            f"reconcile vs one per-table introspection pass; {project.migrations} "
            f"migrations, {len(project.apps)} apps, {project.models} models; "
            f"median of {runs} manage.py runs each, parts from {part_runs} "
            "fresh processes",
            f"{common.versions_line(load_before)}, "
            f"{(time.perf_counter() - began) / 60:.1f} min",
            format_table(rows),
        ]
    )
    print("\n" + report)
    log(f"written to {common.write_results('verify', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
