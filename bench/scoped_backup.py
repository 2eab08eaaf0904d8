"""Benchmark: plan-scoped backups against full backups and plain ``migrate`` (issue 16).

    python bench/scoped_backup.py [--backends postgresql,mysql] [--runs 3]
                                  [--size-mb 2048] [--small-tables 200]
                                  [--jobs 2] [--parallel-runs 1] [--no-parallel]
                                  [--json FILE] [--keep] [--ref REF]

On a PostgreSQL and a MariaDB database of ``--size-mb`` (default 2 GiB: one
large table and 200 small ones, made once by ``bench/scoped_data.py`` and
kept as ``bench_scoped_2g``), a plan that alters one small table
(``tweak.0002_setting_enabled``: AddField with a default) is applied by three
commands, each a whole ``manage.py`` subprocess, wall clock:

* ``migrate`` (the plain tool, the baseline of the same run);
* ``guardedmigrate --backup-scope plan``: the backup holds the tables the plan
  can change (``tweak_setting``, ``django_migrations``, the ledger, ...);
* ``guardedmigrate --backup-scope full``: the whole database.

Before every timed command the plan is undone by plain ``migrate tweak 0001``
(untimed), and ``sync`` runs; the commands alternate (reversed order every
other round). Backups go to the work directory (removed at the end) and are
deleted after each command; their size, what they held (read from their
manifests: the plan's tables, or the whole database) and the backup's own
seconds (as the command reports them) are shown, and a ``--backup-scope
plan`` run that took a whole-database backup says so, with guardedmigrate's
reason. Targets: scoped <= ``migrate`` + 1 s, full / scoped >= 20x.

On PostgreSQL it then times, ``--parallel-runs`` times each, alternating, a
full backup (``migrationbackups create``) and its restore
(``migrationbackups restore ID --noinput``, which takes a safety backup of
the current state first, with the same setting) with ``BACKUP_JOBS=1``
(``pg_dump -Fc``, one process) and ``BACKUP_JOBS=--jobs`` (directory format).

Without ``--backup-scope`` in the checkout (before issue 16 landed), the
scoped row says "scoped backups not available in this checkout" and the
full row is plain ``guardedmigrate`` (whose backups are full). Prints the
table, writes it to ``bench/results/scoped_backup-*.txt`` (and ``--json``).
Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import common
import scoped_data
from common import CommandFailed, log
from scoped_data import Database

DEFAULT_RUNS = 3
SCOPED_MARGIN = 1.0  # seconds over plain migrate
FULL_OVER_SCOPED = 20.0
UNAVAILABLE = "scoped backups not available in this checkout"
#: guardedmigrate's line for its backup: "ID... OK (..., sha256 verified, 1.23s)"
BACKUP_SECONDS = re.compile(r"sha256 verified, ([0-9.]+)s\)")


@dataclass
class Result:
    """The timings of one command on one backend."""

    backend: str
    command: str
    seconds: list[float] = field(default_factory=list)
    backup_bytes: list[int] = field(default_factory=list)
    #: per run, the tables of a plan-scoped backup (0: a whole-database backup)
    scope_tables: list[int] = field(default_factory=list)
    #: per run, the backup's own seconds as the command reported them
    backup_seconds: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float | None:
        return common.median(self.seconds) if self.seconds else None


@dataclass
class Bench:
    """What one backend's measurements need."""

    db: Database
    project: Path
    backups: Path
    scoped: bool  # does guardedmigrate take --backup-scope?

    def env(self, **settings: Any) -> dict[str, str]:
        config = {"BACKUP_DIR": str(self.backups), **settings}
        return {"SMBENCH_MIGRATION_GUARD": json.dumps(config)}

    def manage(self, *args: str, **settings: Any) -> common.Timed:
        return common.run_manage(
            self.project, self.db.url, *args, env=self.env(**settings)
        )

    def collect(self) -> tuple[int, list[int]]:
        """Bytes in the backup store and, per manifest, the tables its backup
        holds when it is plan-scoped (0: the whole database); then empties
        the store (it holds the bench's own backups only)."""
        if not self.backups.exists():
            return 0, []
        files = [p for p in self.backups.rglob("*") if p.is_file()]
        scopes = []
        for path in files:
            if path.suffix == ".json":
                manifest = json.loads(path.read_text())
                scopes.append(len(manifest.get("scope_tables") or []))
        total = sum(p.stat().st_size for p in files)
        shutil.rmtree(self.backups)
        return total, scopes


def takes_backup_scope(project: Path, url: str) -> bool:
    help_text = common.run_manage(project, url, "guardedmigrate", "--help").stdout
    return "--backup-scope" in help_text


def applied(db: Database) -> bool:
    """Is the plan (``tweak.0002``) applied?"""
    with scoped_data.cursor(db) as cur:
        cur.execute(
            "SELECT COUNT(*) FROM django_migrations WHERE app = %s AND name = %s",
            ["tweak", scoped_data.TWEAK_AFTER],
        )
        return int(cur.fetchone()[0]) == 1


def commands(scoped: bool) -> dict[str, list[str]]:
    """Label -> manage.py arguments of the timed commands."""
    guarded = ["guardedmigrate", "--noinput"]
    if not scoped:
        return {
            "migrate": ["migrate", "--noinput"],
            "guardedmigrate (full backup)": guarded,
        }
    return {
        "migrate": ["migrate", "--noinput"],
        "guardedmigrate --backup-scope plan": [*guarded, "--backup-scope", "plan"],
        "guardedmigrate --backup-scope full": [*guarded, "--backup-scope", "full"],
    }


def time_plan(bench: Bench, label: str, args: list[str], result: Result) -> None:
    """Undo the plan (untimed), then apply it with ``args``, timed."""
    bench.manage("migrate", "--noinput", "tweak", scoped_data.TWEAK_BEFORE)
    if applied(bench.db):
        raise CommandFailed(f"migrate tweak {scoped_data.TWEAK_BEFORE} left 0002")
    bench.collect()  # nothing should be there; empty it anyway
    os.sync()
    timed = bench.manage(*args)
    if not applied(bench.db):
        raise CommandFailed(
            f"{label} did not apply tweak.0002:\n{timed.stdout[-2000:]}"
        )
    result.seconds.append(timed.seconds)
    size, scopes = bench.collect()
    result.backup_bytes.append(size)
    result.scope_tables += scopes
    result.backup_seconds += [float(s) for s in BACKUP_SECONDS.findall(timed.stdout)]
    fallback = [line.strip() for line in timed.stdout.splitlines()
                if "A backup of the whole database" in line]  # fmt: skip
    if "plan" in args and fallback:
        result.note = f"FELL BACK: {fallback[0]}"
    log(
        f"[{bench.db.backend}] {label}: {timed.seconds:.2f} s, backup "
        f"{human(size)}, "
        + (
            ", ".join(f"{n} tables" if n else "whole database" for n in scopes)
            or "none"
        )
        + (f" ({fallback[0]})" if fallback else "")
    )


def bench_plans(bench: Bench, runs: int) -> list[Result]:
    todo = commands(bench.scoped)
    results = {label: Result(bench.db.backend, label) for label in todo}
    log(f"[{bench.db.backend}] warm-up: migrate tweak 0001, migrate")
    bench.manage("migrate", "--noinput", "tweak", scoped_data.TWEAK_BEFORE)
    bench.manage("migrate", "--noinput")
    for label in common.alternating(runs, list(todo)):
        time_plan(bench, label, todo[label], results[label])
    if not bench.scoped:
        label = "guardedmigrate --backup-scope plan"
        results[label] = Result(bench.db.backend, label, note=UNAVAILABLE)
    return list(results.values())


def backup_and_restore(
    bench: Bench, jobs: int, create: Result, restore: Result
) -> None:
    """One ``migrationbackups create`` and ``restore`` of it, ``BACKUP_JOBS=jobs``."""
    os.sync()
    made = bench.manage(
        "migrationbackups", "create", "--format", "json", BACKUP_JOBS=jobs
    )
    manifest = json.loads(made.stdout)
    backup_id = manifest["id"]
    create.backup_seconds.append(float(manifest["seconds"]))
    create.seconds.append(made.seconds)
    os.sync()
    back = bench.manage(
        "migrationbackups", "restore", backup_id, "--noinput", BACKUP_JOBS=jobs
    )
    restore.seconds.append(back.seconds)
    create.backup_bytes.append(bench.collect()[0])  # the backup + the safety one
    log(
        f"[postgresql] BACKUP_JOBS={jobs}: create {made.seconds:.1f} s, "
        f"restore (safety backup included) {back.seconds:.1f} s"
    )


def bench_parallel(bench: Bench, runs: int, jobs: int) -> list[Result]:
    pairs = {
        n: (
            Result("postgresql", f"migrationbackups create, BACKUP_JOBS={n}"),
            Result("postgresql", f"migrationbackups restore, BACKUP_JOBS={n}"),
        )
        for n in (1, jobs)
    }
    for n in common.alternating(runs, [1, jobs]):
        backup_and_restore(bench, n, *pairs[n])
    for create, restore in pairs.values():
        create.note = "(1)"
        restore.note = "(2)"
    return [pairs[1][0], pairs[jobs][0], pairs[1][1], pairs[jobs][1]]


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def verdicts(results: list[Result]) -> list[tuple[Result, str, str, str]]:
    """(result, comparison, target, PASS/FAIL) per row of a backend."""
    by = {r.command: r for r in results}
    base = by.get("migrate")
    scoped = by.get("guardedmigrate --backup-scope plan")
    rows = []
    for r in results:
        compare = target = verdict = ""
        med = r.median
        if med is not None and base is not None and base.median and r is not base:
            compare = f"migrate {med - base.median:+.2f} s"
        if r is scoped and med is not None and base is not None and base.median:
            target = f"<= migrate +{SCOPED_MARGIN:.0f} s"
            verdict = "PASS" if med - base.median <= SCOPED_MARGIN else "FAIL"
        if "full" in r.command and scoped is not None and scoped.median and med:
            compare += f"; full/scoped {med / scoped.median:.1f}x"
            target = f">= {FULL_OVER_SCOPED:.0f}x"
            verdict = "PASS" if med / scoped.median >= FULL_OVER_SCOPED else "FAIL"
        rows.append((r, compare, target, verdict))
    return rows


def parallel_ratios(results: list[Result]) -> list[tuple[Result, str, str, str]]:
    rows = []
    for single, multi in ((results[0], results[1]), (results[2], results[3])):
        rows.append((single, "", "", ""))
        ratio = ""
        if single.median and multi.median:
            ratio = f"1 job / {multi.command.split('=')[-1]} jobs: "
            ratio += f"{single.median / multi.median:.2f}x"
        rows.append((multi, ratio, "", ""))
    return rows


def human(size: float) -> str:
    """``12.3 KiB``, ``360.9 MiB``."""
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def scope_label(scopes: list[int]) -> str:
    """`` (whole db)``, `` (5 tables)``: what the backups held."""
    kinds = sorted({f"{n} tables" if n else "whole db" for n in scopes})
    return f" ({', '.join(kinds)})" if kinds else ""


def format_rows(rows: list[tuple[Result, str, str, str]]) -> str:
    header = ("backend", "command", "median s", "runs", "backup", "backup s",
              "compare", "target", "result")  # fmt: skip
    cells = [header]
    for r, compare, target, verdict in rows:
        med = r.median
        size = common.median(r.backup_bytes) if r.backup_bytes else None
        cells.append(
            (
                r.backend,
                r.command,
                "-" if med is None else f"{med:.2f}",
                " ".join(f"{s:.2f}" for s in r.seconds) or "-",
                "" if size is None else human(size) + scope_label(r.scope_tables),
                f"{common.median(r.backup_seconds):.2f}" if r.backup_seconds else "",
                compare,
                target,
                (verdict or ("ERROR" if med is None else "")) + f" {r.note}".rstrip(),
            )
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    lines = ["  ".join([*(f"{c:<{w}}" for c, w in zip(line[:-1], widths, strict=True)),
             line[-1]])
             for line in cells]  # fmt: skip
    lines.insert(1, "-" * max(len(x) for x in lines))
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def run_backend(args: argparse.Namespace, work: Path, backend: str) -> dict[str, Any]:
    project = scoped_data.write_project(work / f"project-{backend}", args.small_tables)
    db = scoped_data.database(backend, args.size_mb)
    info = scoped_data.ensure(db, project, args.size_mb, args.small_tables)
    with scoped_data.cursor(db) as cur:
        info["size_now"] = scoped_data.size(db, cur)
    scoped = takes_backup_scope(project, db.url)
    if not scoped:
        log(f"[{backend}] {UNAVAILABLE} (guardedmigrate has no --backup-scope)")
    bench = Bench(db, project, work / f"backups-{backend}", scoped)
    rows = verdicts(bench_plans(bench, args.runs))
    if backend == "postgresql" and not args.no_parallel:
        rows += parallel_ratios(bench_parallel(bench, args.parallel_runs, args.jobs))
    return {"db": db, "info": info, "rows": rows, "scoped": scoped}


def describe(backend: str, done: dict[str, Any]) -> str:
    info, db = done["info"], done["db"]
    what = "pg_database_size" if backend == "postgresql" else "data+index length"
    return (
        f"{backend}: {db.name}, {info['size_now'] / 2**30:.2f} GiB ({what}; "
        f"large table {info['large_rows']:,} rows, {info['small_tables']} small "
        f"tables + tweak_setting)" + ("" if done["scoped"] else f"; {UNAVAILABLE}")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        type=common.parse_backends,
        default=["postgresql", "mysql"],
        help="comma-separated: postgresql, mysql (default: both)",
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--small-tables", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2, help="BACKUP_JOBS compared to 1")
    parser.add_argument("--parallel-runs", type=int, default=1)
    parser.add_argument("--no-parallel", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write JSON here")
    common.add_work_arguments(parser, "the generated project")
    args = parser.parse_args(argv)
    load_before = common.load_average()
    done: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    with common.exit_on_sigterm(), common.workdir(args.keep, "scoped") as work:
        common.use_ref(args.ref, work)
        for backend in args.backends:
            problem = "SQLite is not measured" if backend == "sqlite" else None
            problem = problem or common.check_backend(backend)
            if problem:
                failed.append(f"{backend}: skipped ({problem})")
                continue
            try:
                done[backend] = run_backend(args, work, backend)
            except Exception as exc:
                log(f"[{backend}] failed: {exc}")
                failed.append(f"{backend}: failed ({type(exc).__name__}: {exc})"[:2000])
    text = report(args, done, failed, load_before)
    print(text)
    path = common.write_results("scoped_backup", text)
    log(f"written to {path}")
    if args.json:
        write_json(args.json, args, done, failed)
    return 0


def report(
    args: argparse.Namespace,
    done: dict[str, dict[str, Any]],
    failed: list[str],
    load_before: str,
) -> str:
    lines = [
        f"\nPlan-scoped vs full backups (one small table altered), whole manage.py "
        f"processes, wall clock, median of {args.runs} runs "
        f"(restores: {args.parallel_runs})",
        common.versions_line(load_before),
        *(describe(backend, d) for backend, d in done.items()),
        *failed,
        format_rows([row for d in done.values() for row in d["rows"]]),
    ]
    if "postgresql" in done and not args.no_parallel:
        lines += [
            "(1) backup: the backup and the safety backup its restore took",
            "(2) the restore includes the safety backup it takes first",
        ]
    return "\n".join(lines)


def write_json(
    path: Path,
    args: argparse.Namespace,
    done: dict[str, dict[str, Any]],
    failed: list[str],
) -> None:
    document = {
        "version": common.code_version(),
        "load": common.load_average(),
        "runs": args.runs,
        "failed": failed,
        "backends": {
            backend: {
                "database": d["db"].name,
                **d["info"],
                "scoped_available": d["scoped"],
                "rows": [
                    {
                        **asdict(r),
                        "median": r.median,
                        "compare": c,
                        "target": t,
                        "result": v,
                    }
                    for r, c, t, v in d["rows"]
                ],
            }
            for backend, d in done.items()
        },
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
