"""Benchmark: ``rollbackplan --sql`` against ``migrate --plan`` on the corpus project.

    python bench/corpus_preview.py [--backends postgresql,mysql] [--runs 3]
                                   [--targets cms:0030,sites:zero]
                                   [--baseline DIR]

The corpus (``tests/corpus``: third-party apps from PyPI, installed by
``make corpus-deps``) is migrated from empty by Django once per backend on
a scratch database; then, for each target, alternating the tools, whole
``python manage.py`` subprocesses (start-up included) are timed:

* ``migrate APP TARGET --plan`` (Django's plan of the revert: graph, system
  checks, no SQL);
* ``rollbackplan APP TARGET --sql`` (the revert preview with its backward
  SQL); target <= 1.5x.

With ``--baseline DIR`` (a checkout of another commit, e.g. ``git worktree
add --detach DIR main``), ``rollbackplan --sql`` of DIR's corpus
``manage.py`` (which imports DIR's ``migration_guard``) is timed too, in the
same rounds: before and after a change, against the same ``migrate --plan``,
under the same load. Its SQL
must be the SQL of this checkout, byte for byte but for string literals (a
callable default, the time or a random key, differs from call to call).

Both must list the same number of migrations (``-- Unapply`` blocks against
plan lines). ``rollbackplan`` exits 8 when the plan holds an irreversible
operation: that is its answer, not a failure. Prints a table of medians and
ratios, and the load average; always exits 0.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import common
from common import Row, ScratchDatabases, format_table, log, median

CORPUS = common.REPO_ROOT / "tests" / "corpus"
TARGET = 1.5
DEFAULT_TARGETS = ("cms:0030", "filer:zero", "contenttypes:0001", "sites:zero")


def manage(
    url: str, *args: str, ok: tuple[int, ...] = (0,), path: Path | None = None
) -> tuple[float, str]:
    """Seconds of ``tests/corpus/manage.py ARGS`` as a whole process, and stdout.

    ``path``: another checkout, whose corpus ``manage.py`` imports its own
    ``migration_guard`` (it puts its checkout first on ``sys.path``).
    """
    corpus = CORPUS if path is None else path / "tests" / "corpus"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DATABASE_URL=url, PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(corpus / "manage.py"), *args],
        cwd=corpus,
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


PLAN, SQL, BASELINE = (
    "migrate --plan",
    "rollbackplan --sql",
    "rollbackplan --sql (baseline)",
)


def _stable(out: str) -> list[str]:
    """The lines of an output, their string literals blanked (a callable
    default, the time or a random key, differs from call to call)."""
    return [re.sub(r"'[^']*'", "''", line) for line in out.splitlines()]


def measure(
    url: str, app: str, target: str, runs: int, baseline: Path | None
) -> dict[str, list[float]]:
    tools = [
        (PLAN, ("migrate", app, target, "--plan"), None),
        (SQL, ("rollbackplan", app, target, "--sql"), None),
    ]
    if baseline is not None:
        tools.append((BASELINE, ("rollbackplan", app, target, "--sql"), baseline))
    times: dict[str, list[float]] = {label: [] for label, _, _ in tools}
    for run in range(runs + 1):  # the first round warms the caches, untimed
        outputs = {}
        for label, args, path in tools if run % 2 else tools[::-1]:
            seconds, outputs[label] = manage(url, *args, ok=(0, 8), path=path)
            if run:
                times[label].append(seconds)
        steps = sum(  # "app.name" lines; operations are indented
            1 for line in outputs[PLAN].splitlines()[1:] if line[:1] not in (" ", "")
        )
        blocks = outputs[SQL].count("-- Unapply ")
        if blocks != steps:
            raise common.CommandFailed(
                f"{app} {target}: rollbackplan unapplies {blocks}, migrate {steps}"
            )
        if BASELINE in outputs and _stable(outputs[BASELINE]) != _stable(outputs[SQL]):
            raise common.CommandFailed(f"{app} {target}: the baseline's SQL differs")
    log(f"  {app} {target}: {steps} migrations")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="postgresql,mysql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/smbench_corpus"))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout whose rollbackplan --sql is timed too (before/after)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    common.corpus_backups(args.workdir)
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
                times = measure(db.url, app, target, args.runs, args.baseline)
                base = median(times[PLAN])
                label = f"{app} {target}"
                rows.append(Row(backend, f"{PLAN} ({label})", base))
                for tool in (BASELINE, SQL):
                    if times.get(tool):
                        value = median(times[tool])
                        rows.append(
                            Row(
                                backend,
                                f"{tool} ({label})",
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
