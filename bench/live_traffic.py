"""Benchmark: live queries on a table while a migration waits behind a long transaction.

    python bench/live_traffic.py [--backends postgresql,mysql] [--runs 3]
        [--rate 50] [--hold 6] [--lock-timeout 1] [--quick]

Per backend and tool (plain ``migrate``, then ``guardedmigrate``), on a fresh
scratch database holding ``live_item`` (1,000 rows, migration 0001):

1. another process sends ``--rate`` small queries per second (a primary key
   lookup on ``live_item``, autocommit, one connection), each one at its
   scheduled time; its latency is counted from that scheduled time, so a
   query that could not even be sent because the one before was stuck
   counts the wait too (no coordinated omission);
2. after one second, a long transaction opens (``BEGIN; SELECT ... FROM
   live_item``) and holds its lock for ``--hold`` seconds;
3. the migration command starts (``manage.py migrate live`` or ``manage.py
   migration_guard live --lock-wait-timeout T``; both ``--no-backup`` so only the
   lock behaviour differs): 0002 is an ``AddField`` on ``live_item``, whose
   ``ALTER TABLE`` waits for the long transaction and makes every later
   query on the table queue behind it;
4. the long transaction commits; the command must complete; the load goes on
   for one more second.

Prints, per backend and tool, p50/p99/max of the live queries, how long
the command took, whether it completed, and how many attempts migration_guard
made. Target: migration_guard's max <= the lock timeout + 100 ms, and the deploy
completes once the long transaction ends. Always exits 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
import genproject
from common import ScratchDatabases, log

ROWS = 1000
TARGET_SLACK = 0.100  # seconds over the lock timeout allowed for the max

MODELS = """\
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=50)
    qty = models.IntegerField(default=0)
    note = models.CharField(max_length=50, null=True)
"""

MIGRATION_0001 = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
                ("qty", models.IntegerField(default=0)),
            ],
        ),
    ]
"""

MIGRATION_0002 = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("live", "0001_initial")]
    operations = [
        migrations.AddField("item", "note", models.CharField(max_length=50, null=True)),
    ]
"""


def write_project(path: Path) -> Path:
    """A project with one app, ``live``: 0001 creates the table, 0002 adds a column."""
    files = {
        "manage.py": genproject.MANAGE,
        "benchproject/__init__.py": "",
        "benchproject/settings.py": genproject.SETTINGS.replace(
            "__APPS__", '    "live",'
        ),
        "live/__init__.py": "",
        "live/apps.py": genproject.APPS_PY.format(cls="LiveConfig", label="live"),
        "live/models.py": MODELS,
        "live/migrations/__init__.py": "",
        "live/migrations/0001_initial.py": MIGRATION_0001,
        "live/migrations/0002_item_note.py": MIGRATION_0002,
    }
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return path


def connect(url: str) -> Any:
    """A DB-API connection in autocommit mode to the database of ``url``."""
    if url.startswith("postgres"):
        return common.connect(url, application_name="live-traffic")
    return common.connect(url)


def load(url: str, rate: float, stop: Any, results: Any) -> None:
    """Send ``rate`` primary-key lookups a second until ``stop`` is set.

    Runs in its own process; puts the list of (scheduled offset, latency)
    on ``results``, each latency counted from the query's scheduled time.
    """
    conn = connect(url)
    cursor = conn.cursor()
    interval = 1.0 / rate
    samples: list[tuple[float, float]] = []
    started = time.perf_counter()
    n = 0
    while not stop.is_set():
        scheduled = started + n * interval
        now = time.perf_counter()
        if now < scheduled:
            time.sleep(scheduled - now)
        cursor.execute(
            "SELECT id, name, qty FROM live_item WHERE id = %s", [n % ROWS + 1]
        )
        cursor.fetchall()
        samples.append((scheduled - started, time.perf_counter() - scheduled))
        n += 1
    conn.close()
    results.put(samples)


@dataclass
class Outcome:
    backend: str
    tool: str
    latencies: list[float]
    command_seconds: float
    completed: bool
    attempts: int
    output: str


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def one_run(
    backend: str,
    tool: str,
    project: Path,
    dbs: ScratchDatabases,
    args: argparse.Namespace,
) -> Outcome:
    db = dbs.create(backend)
    try:
        common.run_manage(project, db.url, "migrate", "live", "0001", "-v", "0")
        seed = connect(db.url)
        with seed.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.executemany(
                "INSERT INTO live_item (name, qty) VALUES (%s, %s)",
                [(f"item {i}", i) for i in range(ROWS)],
            )
        seed.close()

        context = multiprocessing.get_context("spawn")
        stop, results = context.Event(), context.Queue()
        loader = context.Process(target=load, args=(db.url, args.rate, stop, results))
        loader.start()
        time.sleep(1.0)  # warm-up and baseline

        holder = connect(db.url)
        held = holder.cursor()
        held.execute("BEGIN")
        held.execute("SELECT COUNT(*) FROM live_item")
        held.fetchall()

        command = [common.PYTHON, "manage.py", tool, "live", "-v", "1"]
        if tool == "guardedmigrate":
            command += [
                "--no-backup",
                "--lock-wait-timeout",
                str(args.lock_timeout),
                "--lock-wait-retries",
                "20",
                "--lock-wait-backoff",
                str(args.backoff),
            ]
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=project,
            env=common.manage_env(db.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(args.hold)
        held.execute("COMMIT")
        holder.close()
        try:
            output, _ = proc.communicate(timeout=args.hold + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        seconds = time.perf_counter() - started
        time.sleep(1.0)
        stop.set()
        samples = results.get(timeout=60)
        loader.join(timeout=60)
    finally:
        dbs.drop(db)
    return Outcome(
        backend,
        tool,
        [latency for _, latency in samples],
        seconds,
        proc.returncode == 0 and "Applying live.0002_item_note... OK" in output,
        output.count("Applying live.0002_item_note..."),
        output,
    )


def report(outcomes: list[Outcome], lock_timeout: float) -> str:
    lines = [
        "| backend | tool | queries | p50 | p99 | max | command | completed "
        "| attempts | target (max <= lock timeout + 100 ms) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(o.backend, o.tool) for o in outcomes})
    for backend, tool in keys:
        runs = [o for o in outcomes if (o.backend, o.tool) == (backend, tool)]
        latencies = [x for o in runs for x in o.latencies]
        worst = max(latencies)
        target = (
            ("met" if worst <= lock_timeout + TARGET_SLACK else "MISSED")
            if tool == "guardedmigrate"
            else "-"
        )
        lines.append(
            f"| {backend} | {tool} | {len(latencies)} "
            f"| {percentile(latencies, 0.5) * 1000:.1f} ms "
            f"| {percentile(latencies, 0.99) * 1000:.0f} ms "
            f"| {worst * 1000:.0f} ms "
            f"| {statistics.median(o.command_seconds for o in runs):.2f} s "
            f"| {sum(o.completed for o in runs)}/{len(runs)} "
            f"| {'/'.join(str(o.attempts) for o in runs)} | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        type=common.parse_backends,
        default=["postgresql", "mysql"],
        help="comma-separated: postgresql, mysql (default: both)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per tool")
    parser.add_argument("--rate", type=float, default=50, help="live queries/s")
    parser.add_argument(
        "--hold", type=float, default=6.0, help="seconds the long transaction lasts"
    )
    parser.add_argument(
        "--lock-timeout", type=float, default=1.0, help="migration_guard's lock wait"
    )
    parser.add_argument(
        "--backoff", type=float, default=0.5, help="migration_guard's first backoff"
    )
    parser.add_argument("--quick", action="store_true", help="one run, 3 s hold")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.hold = 1, 3.0
    outcomes: list[Outcome] = []
    with common.workdir(args.keep, "live") as work:
        project = write_project(work / "project")
        with ScratchDatabases(work, "live") as dbs:
            for backend in args.backends:
                if backend == "sqlite":
                    log("[sqlite] skipped: the benchmark is for server databases")
                    continue
                reason = common.check_backend(backend)
                if reason:
                    log(f"[{backend}] skipped: {reason}")
                    continue
                for i in range(args.runs):
                    for tool in common.TOOLS:
                        outcome = one_run(backend, tool, project, dbs, args)
                        outcomes.append(outcome)
                        log(
                            f"[{backend}] run {i + 1}/{args.runs} {tool}: max "
                            f"{max(outcome.latencies) * 1000:.0f} ms, command "
                            f"{outcome.command_seconds:.2f} s, completed "
                            f"{outcome.completed}, attempts {outcome.attempts}"
                        )
                        if not outcome.completed:
                            log(outcome.output[-3000:])
    if outcomes:
        print(
            f"\n{args.rate:g} queries/s, long transaction {args.hold:g} s, "
            f"lock timeout {args.lock_timeout:g} s, backoff {args.backoff:g} s, "
            f"{args.runs} run(s) per tool; {common.load_average()}\n"
        )
        print(report(outcomes, args.lock_timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
