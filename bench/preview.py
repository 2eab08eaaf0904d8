"""Benchmark: the revert preview (``rollbackplan``) vs what ``migrate`` offers.

    python bench/preview.py [--backends sqlite,postgresql] [--sizes 300,1200]
                            [--runs 3] [--inproc-runs 5] [--quick] [--profile]

Generates a project per size (10 apps, 300 and 1200 migrations), migrates a
scratch database of each backend fully once, then compares, alternating the
tools, on the revert of the first app to zero (which, through the cross-app
foreign keys, pulls in most of the project's migrations):

* preview: ``rollbackplan app00 zero`` (plan, dependency reasons, per-operation
  effects, data-at-risk counts; no models rendered) vs ``migrate app00 zero
  --plan``; target <= 1.5x. Timed as whole ``python manage.py`` subprocesses
  (wall, CPU and peak RSS) and in-process (``call_command`` in one warmed-up
  Django process, connections closed and garbage collected before each call).
* SQL: ``rollbackplan app00 zero --sql`` (models rendered once, the backward
  SQL of every migration generated) vs ``migrate app00 zero --fake`` of the
  same revert (Django renders and keeps the state before every migration
  unapplied, without generating any SQL); targets <= 1.0x time and <= 0.3x
  peak RSS. ``--fake`` really unapplies the ``django_migrations`` rows: they
  are put back (untimed) after every run from a snapshot taken once.

Peak RSS is that of the ``python manage.py`` process itself: ``/usr/bin/time
-f %M`` when it exists, else the process reports its own ``ru_maxrss`` at exit
(``--rss rusage`` forces that). ``manage.py check`` gives the start-up floor
(interpreter, Django, the project's models) every tool pays.

Every run is checked: both tools must name the same number of migrations
(plan headings, ``[n]`` entries, ``FAKED`` lines, ``-- Unapply`` blocks), and
``rollbackplan`` must exit 0 (8 means the plan holds an irreversible
operation; the generated data migrations all have reverse functions).

Prints a table of medians and rollbackplan/migrate ratios against the targets.
``--profile`` also runs ``rollbackplan`` (with and without ``--sql``) on the
smallest project under cProfile and prints the top functions (cProfile slows
the ``--sql`` run down about 3x: minutes at 1200 migrations). Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import genproject
from common import CommandFailed, ScratchDatabase, ScratchDatabases, log

PLAN_TARGET = 1.5
SQL_TIME_TARGET = 1.0
SQL_RSS_TARGET = 0.3
DEFAULT_SIZES = (300, 1200)
QUICK_SIZES = (60,)
DEFAULT_RUNS = 3
DEFAULT_INPROC_RUNS = 5
QUICK_INPROC_RUNS = 2
APP = "app00"
TIME_BIN = "/usr/bin/time"
RSS_MARKER = "SMBENCH_MAXRSS_KB"

#: The four commands compared, by the label shown in the table.
PLAN_MIGRATE = "migrate --plan"
PLAN_PREVIEW = "rollbackplan"
SQL_MIGRATE = "migrate --fake"
SQL_PREVIEW = "rollbackplan --sql"
COMMANDS: dict[str, tuple[str, ...]] = {
    PLAN_MIGRATE: ("migrate", APP, "zero", "--plan"),
    PLAN_PREVIEW: ("rollbackplan", APP, "zero"),
    SQL_MIGRATE: ("migrate", APP, "zero", "--fake"),
    SQL_PREVIEW: ("rollbackplan", APP, "zero", "--sql"),
}
#: How each command's output names the migrations of the plan, one a line.
STEP_PATTERNS: dict[str, re.Pattern[str]] = {
    PLAN_MIGRATE: re.compile(r"^\w+\.\d{4}_\w+$", re.MULTILINE),
    PLAN_PREVIEW: re.compile(r"^ {4}\[\d+\] \w+\.\d{4}_\w+", re.MULTILINE),
    SQL_MIGRATE: re.compile(r"^ {2}Unapplying \w+\.\w+\.\.\. FAKED$", re.MULTILINE),
    SQL_PREVIEW: re.compile(r"^-- Unapply \w+\.\d{4}_\w+$", re.MULTILINE),
}
#: rollbackplan's exit code when only a restore can undo the plan.
EXIT_RESTORE_REQUIRED = 8

#: Runs ``manage.py`` in this very process and reports its peak RSS on stderr
#: at exit (used when /usr/bin/time is missing, or with ``--rss rusage``).
RUSAGE_WRAPPER = r"""
import resource, runpy, sys
sys.argv = ["manage.py", *sys.argv[1:]]
try:
    runpy.run_path("manage.py", run_name="__main__")
finally:
    sys.stdout.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("__MARKER__", peak, file=sys.stderr)
""".replace("__MARKER__", RSS_MARKER)

#: Saves the ``django_migrations`` rows to a JSON file, or puts them back.
ROWS_SCRIPT = r"""
import datetime, json, sys
import django
django.setup()
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
Migration = MigrationRecorder(connection).Migration
action, path = sys.argv[1], sys.argv[2]
if action == "save":
    rows = [
        [pk, app, name, applied.isoformat()]
        for pk, app, name, applied in Migration.objects.order_by("id").values_list(
            "id", "app", "name", "applied"
        )
    ]
    with open(path, "w") as handle:
        json.dump(rows, handle)
else:
    with open(path) as handle:
        rows = json.load(handle)
    with transaction.atomic():
        Migration.objects.all().delete()
        Migration.objects.bulk_create(
            Migration(
                id=pk, app=app, name=name,
                applied=datetime.datetime.fromisoformat(applied),
            )
            for pk, app, name, applied in rows
        )
print("SMBENCH_ROWS", Migration.objects.count())
"""

#: Times ``call_command`` of each labelled command in one Django process,
#: alternating, after warm-up; a CommandError with rollbackplan's "restore
#: required" code counts as a finished run (its exit code is reported).
INPROC_SCRIPT = r"""
import gc, io, json, sys, time
import django
django.setup()
from django.core.management import CommandError, call_command
from django.db import connections

commands, runs, warmup = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
labels = list(commands)
wall = {label: [] for label in labels}
cpu = {label: [] for label in labels}
codes = {label: 0 for label in labels}
for i in range(warmup + runs):
    for label in labels if i % 2 == 0 else labels[::-1]:
        name, *args = commands[label]
        # From the shell, migrate runs the system checks; rollbackplan has none
        # (requires_system_checks = []), so call_command refuses skip_checks.
        options = {"skip_checks": False} if name == "migrate" else {}
        connections.close_all()
        gc.collect()
        out = io.StringIO()
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            call_command(name, *args, stdout=out, stderr=out, **options)
        except CommandError as exc:
            if exc.returncode != 8:
                raise
            codes[label] = exc.returncode
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        if i >= warmup:
            wall[label].append(seconds)
            cpu[label].append(cpu_seconds)
print("SMBENCH" + json.dumps({"wall": wall, "cpu": cpu, "codes": codes}))
"""

#: Runs each labelled command once under cProfile and prints the top functions.
PROFILE_SCRIPT = r"""
import cProfile, io, json, pstats, sys, time
import django
django.setup()
from django.core.management import CommandError, call_command

commands, top = json.loads(sys.argv[1]), int(sys.argv[2])
for label, (name, *args) in commands.items():
    call_command(name, *args, stdout=io.StringIO())  # warm-up: imports, caches
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    try:
        call_command(name, *args, stdout=io.StringIO())
    except CommandError as exc:
        if exc.returncode != 8:
            raise
    profile.disable()
    seconds = time.perf_counter() - started
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    print(f"=== {label}: {seconds:.2f}s under cProfile, by cumulative time")
    print(text.getvalue().split("\n", 6)[-1].rstrip())
"""


# ---------------------------------------------------------------------------
# Running and measuring one command
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    seconds: float  # wall clock of the whole subprocess
    cpu: float  # its user + system CPU
    peak_mb: float  # peak RSS of the python process running manage.py
    returncode: int
    steps: int  # migrations the output names
    output_bytes: int

    def describe(self) -> str:
        return (
            f"{self.seconds:.3f}s cpu {self.cpu:.3f}s {self.peak_mb:.0f} MB, "
            f"{self.steps} migrations, exit {self.returncode}"
        )


def rss_command(mode: str) -> list[str]:
    """The command prefix that runs ``manage.py ARGS`` and reports peak RSS."""
    if mode == "time":
        return [TIME_BIN, "-f", f"{RSS_MARKER} %M", common.PYTHON, "manage.py"]
    return [common.PYTHON, "-c", RUSAGE_WRAPPER]


def measure(
    project: Path,
    url: str,
    label: str,
    rss_mode: str,
    *,
    accept: Sequence[int] = (0,),
) -> Measured:
    """Run ``COMMANDS[label]`` in ``project`` once; time it, read its peak RSS."""
    args = COMMANDS[label]
    proc, seconds, cpu = common.run_child(
        [*rss_command(rss_mode), *args], cwd=project, env=common.manage_env(url)
    )
    if proc.returncode not in accept:
        raise CommandFailed(
            f"manage.py {' '.join(args)} exited {proc.returncode} on {url}:\n"
            + (proc.stdout[-2000:] + proc.stderr[-2000:])
        )
    peaks = [
        line.split()[-1]
        for line in proc.stderr.splitlines()
        if line.startswith(RSS_MARKER)
    ]
    if not peaks:
        raise CommandFailed(f"no peak RSS reported by {label}:\n{proc.stderr[-2000:]}")
    return Measured(
        seconds=seconds,
        cpu=cpu,
        peak_mb=int(peaks[-1]) / 1024,
        returncode=proc.returncode,
        steps=len(STEP_PATTERNS[label].findall(proc.stdout)),
        output_bytes=len(proc.stdout.encode()),
    )


def django_child(project: Path, url: str, script: str, *args: str) -> str:
    """Run ``script`` with Django set up for ``project``; its stdout."""
    proc = subprocess.run(
        [common.PYTHON, "-c", script, *args],
        cwd=project,
        env=common.manage_env(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CommandFailed(
            f"child script exited {proc.returncode} on {url}:\n"
            + (proc.stdout + proc.stderr)[-4000:]
        )
    return proc.stdout


class MigrationRows:
    """The ``django_migrations`` rows of a database: saved once, put back."""

    def __init__(self, project: Path, db: ScratchDatabase, path: Path) -> None:
        self.project, self.db, self.path = project, db, path
        self.count = self._run("save")

    def _run(self, action: str) -> int:
        out = django_child(
            self.project, self.db.url, ROWS_SCRIPT, action, str(self.path)
        )
        counts = [line for line in out.splitlines() if line.startswith("SMBENCH_ROWS")]
        if not counts:
            raise CommandFailed(f"row {action} printed no count:\n{out[-2000:]}")
        return int(counts[-1].split()[-1])

    def restore(self) -> None:
        count = self._run("restore")
        if count != self.count:
            raise CommandFailed(
                f"restored {count} django_migrations rows, expected {self.count}"
            )


def time_in_process(
    project: Path, url: str, labels: Sequence[str], runs: int, warmup: int = 1
) -> dict[str, Any]:
    """``{"wall": {label: [...]}, "cpu": {...}, "codes": {label: exit}}``."""
    commands = {label: list(COMMANDS[label]) for label in labels}
    out = django_child(
        project, url, INPROC_SCRIPT, json.dumps(commands), str(runs), str(warmup)
    )
    marker = [line for line in out.splitlines() if line.startswith("SMBENCH")]
    if not marker:
        raise CommandFailed(f"in-process timing printed nothing:\n{out[-2000:]}")
    result: dict[str, Any] = json.loads(marker[-1][len("SMBENCH") :])
    return result


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass
class Line:
    """One row of the table."""

    backend: str
    size: int
    comparison: str
    tool: str
    seconds: float | None = None
    cpu: float | None = None
    peak_mb: float | None = None
    ratio: float | None = None
    target: float | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ratio is None or self.target is None:
            return ""
        return "PASS" if self.ratio <= self.target else "FAIL"


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(lines: Sequence[Line]) -> str:
    header = (
        "backend", "migrations", "comparison", "tool", "median s", "cpu s",
        "peak MB", "ratio", "target", "result",
    )  # fmt: skip
    cells = [header]
    for line in lines:
        result = " ".join(x for x in (line.verdict, line.note) if x)
        cells.append(
            (
                line.backend,
                str(line.size),
                line.comparison,
                line.tool,
                _cell(line.seconds, ".3f"),
                _cell(line.cpu, ".3f"),
                _cell(line.peak_mb, ".0f"),
                "" if line.ratio is None else f"{line.ratio:.3f}",
                "" if line.target is None else f"<= {line.target:.2f}",
                result,
            )
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    text = []
    for n, row in enumerate(cells):
        parts = [
            f"{c:<{w}}" if i < 4 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        text.append("  ".join([*parts, row[-1]]).rstrip())
        if n == 0:
            text.append("-" * max(len(x) for x in text))
    return "\n".join(text)


@dataclass
class Samples:
    """The runs of one command on one database."""

    label: str
    runs: list[Measured] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return common.median([getattr(run, attr) for run in self.runs])

    @property
    def peak_mb(self) -> float:
        return max(run.peak_mb for run in self.runs)

    def describe(self) -> str:
        return (
            f"wall {common.describe_runs([r.seconds for r in self.runs])}; "
            f"cpu {common.describe_runs([r.cpu for r in self.runs])}; "
            f"peak MB {' '.join(f'{r.peak_mb:.0f}' for r in self.runs)}; "
            f"steps {sorted({r.steps for r in self.runs})}; "
            f"exit {sorted({r.returncode for r in self.runs})}; "
            f"output {self.runs[-1].output_bytes:,} bytes"
        )


def pair_lines(
    backend: str,
    size: int,
    comparison: str,
    base: Samples,
    cand: Samples,
    target: float,
) -> list[Line]:
    """A row for the baseline, one for the candidate with the time ratio."""
    notes = []
    base_steps = {r.steps for r in base.runs}
    cand_steps = {r.steps for r in cand.runs}
    if base_steps != cand_steps or len(base_steps) != 1:
        notes.append(
            f"(migrations: {base.label} {sorted(base_steps)}, "
            f"{cand.label} {sorted(cand_steps)})"
        )
    codes = sorted({r.returncode for r in cand.runs} - {0})
    if codes:
        notes.append(f"(exit {', '.join(map(str, codes))})")
    rows = [
        Line(
            backend,
            size,
            comparison,
            samples.label,
            samples.median("seconds"),
            samples.median("cpu"),
            samples.peak_mb,
        )
        for samples in (base, cand)
    ]
    rows[1].ratio = cand.median("seconds") / base.median("seconds")
    rows[1].target = target
    rows[1].note = " ".join(notes)
    return rows


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


@dataclass
class Settings:
    runs: int
    inproc_runs: int
    rss_mode: str


def bench_project(
    backend: str,
    project: genproject.GeneratedProject,
    dbs: ScratchDatabases,
    work: Path,
    settings: Settings,
) -> list[Line]:
    size = project.migrations
    tag = f"[{backend} {size}]"
    path = project.path
    db = dbs.create(backend)
    try:
        log(f"{tag} migrating {db.name} fully once ({common.load_average()})")
        started = time.perf_counter()
        common.run_manage(path, db.url, "migrate", "-v0")
        log(f"{tag} migrated in {time.perf_counter() - started:.1f}s")
        rows = MigrationRows(path, db, work / f"rows_{db.name}.json")
        startup = startup_floor(path, db.url, settings.rss_mode)
        lines = [
            Line(backend, size, "start-up", "manage.py check", startup.seconds,
                 startup.cpu, startup.peak_mb),
        ]  # fmt: skip

        # -- preview: rollbackplan vs migrate --plan (read-only) --------------
        for label in (PLAN_MIGRATE, PLAN_PREVIEW):  # warm-up: OS caches, .pyc
            measure(path, db.url, label, settings.rss_mode, accept=(0, 8))
        plan = {label: Samples(label) for label in (PLAN_MIGRATE, PLAN_PREVIEW)}
        for label in common.alternating(settings.runs, (PLAN_MIGRATE, PLAN_PREVIEW)):
            run = measure(path, db.url, label, settings.rss_mode, accept=(0, 8))
            plan[label].runs.append(run)
            log(f"{tag} {label}: {run.describe()}")
        for samples in plan.values():
            log(f"{tag} {samples.label}: {samples.describe()}")
        lines += pair_lines(
            backend, size, "preview", plan[PLAN_MIGRATE], plan[PLAN_PREVIEW],
            PLAN_TARGET,
        )  # fmt: skip

        inproc = time_in_process(
            path, db.url, (PLAN_MIGRATE, PLAN_PREVIEW), settings.inproc_runs
        )
        for measure_name, times in inproc.items():
            if measure_name == "codes":
                continue
            for label, values in times.items():
                log(
                    f"{tag} in-process {measure_name} {label}: "
                    f"{common.describe_runs(values)}"
                )
        base_s = common.median(inproc["wall"][PLAN_MIGRATE])
        for label in (PLAN_MIGRATE, PLAN_PREVIEW):
            wall_s = common.median(inproc["wall"][label])
            line = Line(
                backend,
                size,
                "preview in-process",
                label,
                wall_s,
                common.median(inproc["cpu"][label]),
            )
            if label == PLAN_PREVIEW:
                line.ratio, line.target = wall_s / base_s, PLAN_TARGET
                code = int(inproc["codes"][label])
                line.note = f"(exit {code})" if code else ""
            lines.append(line)

        # -- SQL: rollbackplan --sql vs migrate --fake (rows put back) --------
        sql = {label: Samples(label) for label in (SQL_MIGRATE, SQL_PREVIEW)}
        for label in common.alternating(settings.runs, (SQL_MIGRATE, SQL_PREVIEW)):
            run = measure(path, db.url, label, settings.rss_mode, accept=(0, 8))
            if label == SQL_MIGRATE:
                rows.restore()
            sql[label].runs.append(run)
            log(f"{tag} {label}: {run.describe()} ({common.load_average()})")
        for samples in sql.values():
            log(f"{tag} {samples.label}: {samples.describe()}")
        pair = pair_lines(
            backend, size, "sql vs fake", sql[SQL_MIGRATE], sql[SQL_PREVIEW],
            SQL_TIME_TARGET,
        )  # fmt: skip
        peak_ratio = sql[SQL_PREVIEW].peak_mb / sql[SQL_MIGRATE].peak_mb
        lines += [
            *pair,
            Line(
                backend,
                size,
                "sql vs fake",
                f"{SQL_PREVIEW} peak RSS",
                peak_mb=sql[SQL_PREVIEW].peak_mb,
                ratio=peak_ratio,
                target=SQL_RSS_TARGET,
            ),
        ]
        log(f"{tag} done ({common.load_average()})\n" + format_table(lines))
        return lines
    finally:
        dbs.drop(db)


@dataclass(frozen=True)
class Startup:
    seconds: float
    cpu: float
    peak_mb: float


def startup_floor(project: Path, url: str, rss_mode: str) -> Startup:
    """``manage.py check``: what starting Python, Django and the project costs."""
    proc, seconds, cpu = common.run_child(
        [*rss_command(rss_mode), "check"], cwd=project, env=common.manage_env(url)
    )
    peaks = [ln for ln in proc.stderr.splitlines() if ln.startswith(RSS_MARKER)]
    if proc.returncode != 0 or not peaks:
        raise CommandFailed(f"manage.py check failed:\n{proc.stderr[-2000:]}")
    return Startup(seconds, cpu, int(peaks[-1].split()[-1]) / 1024)


def profile_preview(project: Path, url: str, top: int) -> str:
    """cProfile of rollbackplan with and without --sql, top functions."""
    commands = {label: list(COMMANDS[label]) for label in (PLAN_PREVIEW, SQL_PREVIEW)}
    return django_child(project, url, PROFILE_SCRIPT, json.dumps(commands), str(top))


def parse_sizes(value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are integers: {value!r}") from None
    if not sizes or min(sizes) < 10:
        raise argparse.ArgumentTypeError(f"sizes are >= 10 migrations: {value!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        type=common.parse_backends,
        default=["sqlite"],
        help="comma-separated: sqlite, postgresql, mysql (default: sqlite)",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="total migrations of each generated project, comma-separated "
        f"(default {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help=f"subprocess runs per tool (default {DEFAULT_RUNS})",
    )
    parser.add_argument(
        "--inproc-runs",
        type=int,
        default=None,
        help=f"in-process calls per tool (default {DEFAULT_INPROC_RUNS})",
    )
    parser.add_argument(
        "--rss",
        choices=("auto", "time", "rusage"),
        default="auto",
        help="how peak RSS is read: /usr/bin/time -f %%M, or the process's own "
        "ru_maxrss (auto: /usr/bin/time when it exists)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_SIZES[0]} migrations, 1 run",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile rollbackplan (with and without --sql) on the smallest "
        "project, first backend",
    )
    common.add_work_arguments(parser, "the generated projects")
    args = parser.parse_args(argv)
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    rss_mode = args.rss
    if rss_mode == "auto":
        rss_mode = "time" if shutil.which(TIME_BIN) else "rusage"
    settings = Settings(
        runs=args.runs or (1 if args.quick else DEFAULT_RUNS),
        inproc_runs=args.inproc_runs
        or (QUICK_INPROC_RUNS if args.quick else DEFAULT_INPROC_RUNS),
        rss_mode=rss_mode,
    )
    lines: list[Line] = []
    profile_text = ""
    load_before = common.load_average()
    started = time.perf_counter()
    with (
        common.exit_on_sigterm(),
        common.workdir(args.keep, "preview") as work,
        ScratchDatabases(work, "preview") as dbs,
    ):
        common.use_ref(args.ref, work)
        projects = []
        for size in sizes:
            project = genproject.generate(
                work / f"project{size}", apps=args.apps, migrations=size
            )
            projects.append(project)
            log(project.describe())
        log(
            f"{settings.runs} runs per tool, {settings.inproc_runs} in-process; "
            f"peak RSS via {rss_mode}"
        )
        for backend in args.backends:
            problem = common.check_backend(backend)
            if problem is not None:
                log(f"[{backend}] skipped: {problem}")
                lines.append(Line(backend, 0, "(server unreachable)", "-"))
                continue
            for project in projects:
                try:
                    lines += bench_project(backend, project, dbs, work, settings)
                except Exception as exc:
                    log(f"[{backend} {project.migrations}] failed: {exc}")
                    lines.append(
                        Line(
                            backend,
                            project.migrations,
                            f"({type(exc).__name__})",
                            "-",
                            note=str(exc).splitlines()[0][:100],
                        )
                    )
        if args.profile and projects:
            backend, project = args.backends[0], projects[0]
            db = dbs.create(backend)
            try:
                log(f"[profile] migrating {db.name} ({project.migrations})")
                common.run_manage(project.path, db.url, "migrate", "-v0")
                profile_text = profile_preview(project.path, db.url, top=30)
            except Exception as exc:
                profile_text = f"profile failed: {exc}"
            finally:
                dbs.drop(db)
    minutes = (time.perf_counter() - started) / 60
    print(
        f"\nRevert preview of '{APP} zero': rollbackplan vs migrate; "
        f"{len(projects[0].apps) if projects else args.apps} apps; "
        f"median of {settings.runs} subprocess runs ({settings.inproc_runs} "
        f"in-process calls); peak RSS = max over the runs ({rss_mode})"
    )
    print(
        f"migration_guard {common.code_version()}, Python {sys.version.split()[0]}, "
        f"{load_before} before / {common.load_average()} after, "
        f"{minutes:.1f} min"
    )
    print(format_table(lines))
    if profile_text:
        print("\nProfile (in-process, one call each after a warm-up):")
        print(profile_text.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
