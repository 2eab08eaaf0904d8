"""Benchmark: ``rollbackplan --sql`` against ``migrate --plan`` on the corpus project.

    python bench/corpus_preview.py [--backends postgresql,mysql] [--runs 3]
                                   [--targets cms:0030,sites:zero]

The corpus (``tests/corpus``: third-party apps from PyPI, installed by
``make corpus-deps``) is migrated from empty by Django once per backend on
a scratch database; then, for each target, alternating the tools, whole
``python manage.py`` subprocesses (start-up included) are timed:

* ``migrate APP TARGET --plan`` (Django's plan of the revert: graph, system
  checks, no SQL);
* ``rollbackplan APP TARGET --sql`` (the revert preview with its backward
  SQL); target <= 1.5x.

Both must list the same number of migrations (``-- Unapply`` blocks against
plan lines). ``rollbackplan`` exits 8 when the plan holds an irreversible
operation: that is its answer, not a failure. Prints a table of medians and
ratios, and the load average; always exits 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import common
from common import Row, ScratchDatabases, format_table, log, median

CORPUS = common.REPO_ROOT / "tests" / "corpus"
TARGET = 1.5
DEFAULT_TARGETS = ("cms:0030", "filer:zero", "contenttypes:0001", "sites:zero")


def manage(url: str, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Seconds of ``tests/corpus/manage.py ARGS`` as a whole process, and stdout."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DATABASE_URL=url, PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(CORPUS / "manage.py"), *args],
        cwd=CORPUS,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode not in ok:
        raise common.CommandFailed(
            f"manage.py {' '.join(args)} exited {proc.returncode}:\n"
            + (proc.stdout + proc.stderr)[-3000:]
        )
    return seconds, proc.stdout


def measure(url: str, app: str, target: str, runs: int) -> dict[str, list[float]]:
    plan_args = ("migrate", app, target, "--plan")
    sql_args = ("rollbackplan", app, target, "--sql")
    times: dict[str, list[float]] = {"migrate --plan": [], "rollbackplan --sql": []}
    for run in range(runs + 1):  # the first round warms the caches, untimed
        order = [(plan_args, "migrate --plan"), (sql_args, "rollbackplan --sql")]
        for args, label in order if run % 2 else order[::-1]:
            seconds, out = manage(url, *args, ok=(0, 8))
            if label == "migrate --plan":
                steps = sum(  # "app.name" lines; operations are indented
                    1 for line in out.splitlines()[1:] if line[:1] not in (" ", "")
                )
            else:
                blocks = out.count("-- Unapply ")
            if run:
                times[label].append(seconds)
        if blocks != steps:
            raise common.CommandFailed(
                f"{app} {target}: rollbackplan unapplies {blocks}, migrate {steps}"
            )
    log(f"  {app} {target}: {steps} migrations")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="postgresql,mysql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/smbench_corpus"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    # the corpus keeps backups in the temporary directory, which a shared
    # /tmp (mode 1777) makes a system check error (migration_guard.E008)
    backups = args.workdir / "backups"
    backups.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("MIGRATION_GUARD_BACKUP_DIR", str(backups))
    rows: list[Row] = []
    with ScratchDatabases(args.workdir, "corpus") as databases:
        for backend in common.parse_backends(args.backends):
            problem = common.check_backend(backend)
            if problem:
                log(f"{backend}: skipped ({problem})")
                continue
            db = databases.create(backend)
            log(f"{backend}: migrating the corpus from empty ({common.load_average()})")
            manage(db.url, "migrate", "--noinput", "-v", "0")
            for spec in args.targets.split(","):
                app, target = spec.split(":")
                times = measure(db.url, app, target, args.runs)
                base = median(times["migrate --plan"])
                value = median(times["rollbackplan --sql"])
                label = f"{app} {target}"
                rows.append(Row(backend, f"migrate --plan ({label})", base))
                rows.append(
                    Row(
                        backend,
                        f"rollbackplan --sql ({label})",
                        value,
                        value / base,
                        TARGET,
                    )
                )
    print(format_table(rows))
    print(f"{common.code_version()}; {common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
