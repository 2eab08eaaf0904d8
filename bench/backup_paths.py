"""Benchmark: guardedmigrate's full pre-run backup against ``migrationbackups create``.

    python bench/backup_paths.py [--backends postgresql,mysql] [--runs 5]
                                 [--size-mb 300] [--small-tables 50]
                                 [--profile] [--keep-db] [--against REF]
                                 [--json FILE]

Both commands call the same ``catalog.create_backup``; an earlier run of
``bench/scoped_backup.py`` showed the one inside ``guardedmigrate`` slower at
times. On a PostgreSQL and a MariaDB database of ``--size-mb`` (made by
``bench/scoped_data.py``, ``bench_scoped_<N>m``, dropped at the end unless
``--keep-db``), alternating (reversed order every other round):

* ``guardedmigrate --backup-scope full`` applying ``tweak.0002`` (undone
  before, untimed, by plain ``migrate tweak 0001``);
* ``migrationbackups create``.

With ``--against REF`` both commands are also run with ``migration_guard/``
of git ``REF`` (before/after a change, in the same alternation). ``sync``
runs before each; the backups go to a work directory and are
removed after each command. Per command: the process's wall clock, the
backup's own ``seconds`` from its manifest (what both commands print), and
with ``--profile`` (cProfile of the whole process: it inflates the Python
parts a little, not the dump tools) the seconds of each step of the backup:
dump (+ streamed check), fsync, the read back for the sha256, the row count
(:meth:`read_rows`), the schema fingerprint, the MySQL checks, the identity
and log position queries, and the work each backup did (dump tool and
decoder processes started, full passes over the file). Prints the table and
writes it to ``bench/results/backup_paths-*.txt``. Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import scoped_data
from common import CommandFailed, log
from scoped_data import Database

GUARDED = "guardedmigrate --backup-scope full"
CREATE = "migrationbackups create"

#: (label, function name, file suffix) of the steps profiled
STEPS: tuple[tuple[str, str, str], ...] = (
    ("create_backup", "create_backup", "backup/catalog.py"),
    ("dump", "dump", ""),
    ("fsync", "fsync_file", "backup/storage.py"),
    ("sha256 read back", "sha256_of", "backup/storage.py"),
    ("verify", "verify", ""),
    ("read_rows", "read_rows", ""),
    ("schema fingerprint", "schema", "backup/fingerprint.py"),
    ("mysql checks", "mysql_checks", "backup/fingerprint.py"),
    ("identity", "database_identity", "backup/identity.py"),
    ("log position", "read_position", "backup/logpos.py"),
    ("versions", "versions", ""),
    ("commit", "commit", "backup/storage.py"),
    ("processes started", "popen", "backup/process.py"),
)


@dataclass
class Result:
    backend: str
    command: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    backup: list[float] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, list[int]] = field(default_factory=dict)


def _steps(profile: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Cumulative seconds and calls of :data:`STEPS` in one cProfile file."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    seconds: dict[str, float] = {}
    calls: dict[str, int] = {}
    for (filename, _, name), (_, ncalls, _, cumulative, _) in stats.items():
        if "migration_guard" not in filename:
            continue
        for label, function, suffix in STEPS:
            if name == function and filename.endswith(suffix or ".py"):
                if label in ("dump", "verify", "read_rows", "versions") and (
                    "backup/" not in filename
                    or not filename.endswith(("postgresql.py", "mysql.py"))
                ):
                    continue
                seconds[label] = seconds.get(label, 0.0) + cumulative
                calls[label] = calls.get(label, 0) + ncalls
    return seconds, calls


@dataclass
class Bench:
    db: Database
    project: Path
    backups: Path
    profiles: Path | None

    def env(self, root: Path | None = None) -> dict[str, str]:
        config = {"BACKUP_DIR": str(self.backups)}
        env = common.manage_env(
            self.db.url, {"SMBENCH_MIGRATION_GUARD": json.dumps(config)}
        )
        if root is not None:  # --against: that code first on the path
            env["PYTHONPATH"] = os.pathsep.join([str(root), env["PYTHONPATH"]])
        return env

    def manage(
        self, *args: str, profile: Path | None = None, root: Path | None = None
    ) -> common.Timed:
        prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
        proc, seconds, cpu = common.run_child(
            [common.PYTHON, *prefix, "manage.py", *args],
            cwd=self.project,
            env=self.env(root),
        )
        if proc.returncode != 0:
            raise CommandFailed(
                f"manage.py {' '.join(args)} exited {proc.returncode}:\n"
                + (proc.stdout + proc.stderr)[-4000:]
            )
        return common.Timed(seconds, cpu, proc.stdout, proc.stderr)

    def manifest(self) -> dict[str, Any]:
        found = [json.loads(p.read_text()) for p in self.backups.rglob("*.json")]
        if len(found) != 1:
            raise CommandFailed(f"expected one backup manifest, found {len(found)}")
        shutil.rmtree(self.backups)
        return found[0]


def one(
    bench: Bench, label: str, result: Result, number: int, root: Path | None = None
) -> None:
    if label.startswith(GUARDED):
        bench.manage("migrate", "--noinput", "tweak", scoped_data.TWEAK_BEFORE)
        args = ["guardedmigrate", "--noinput", "--backup-scope", "full"]
    else:
        args = ["migrationbackups", "create"]
    if bench.backups.exists():
        shutil.rmtree(bench.backups)
    os.sync()
    profile = None
    if bench.profiles is not None:
        profile = (
            bench.profiles / f"{bench.db.backend}-{label.split()[0]}-{number}.prof"
        )
    timed = bench.manage(*args, profile=profile, root=root)
    manifest = bench.manifest()
    result.wall.append(timed.seconds)
    result.cpu.append(timed.cpu)
    result.backup.append(float(manifest["seconds"]))
    result.size.append(int(manifest["size"]))
    if profile is not None:
        seconds, calls = _steps(profile)
        for key, value in seconds.items():
            result.steps.setdefault(key, []).append(value)
        for key, count in calls.items():
            result.calls.setdefault(key, []).append(count)
    log(
        f"[{bench.db.backend}] {label}: wall {timed.seconds:.2f} s, CPU "
        f"{timed.cpu:.2f} s, backup "
        f"{manifest['seconds']:.2f} s, {int(manifest['size']) / 2**20:.1f} MiB"
    )


def run_backend(args: argparse.Namespace, work: Path, backend: str) -> list[Result]:
    project = scoped_data.write_project(work / f"project-{backend}", args.small_tables)
    db = scoped_data.database(backend, args.size_mb)
    scoped_data.ensure(db, project, args.size_mb, args.small_tables)
    profiles = work / "profiles" if args.profile else None
    if profiles is not None:
        profiles.mkdir(exist_ok=True)
    bench = Bench(db, project, work / f"backups-{backend}", profiles)
    roots: dict[str, Path | None] = {GUARDED: None, CREATE: None}
    if args.against:
        against = export(args.against, work / "against")
        roots |= {f"{GUARDED} @{args.against}": against,
                  f"{CREATE} @{args.against}": against}  # fmt: skip
    results = {label: Result(backend, label) for label in roots}
    try:
        log(f"[{backend}] warm-up")
        bench.manage("migrate", "--noinput")
        one(bench, CREATE, Result(backend, "warm-up"), 0)
        for number, label in enumerate(common.alternating(args.runs, list(roots)), 1):
            one(bench, label, results[label], number, roots[label])
    finally:
        if not args.keep_db:
            drop(db)
    return list(results.values())


def export(ref: str, dest: Path) -> Path:
    """migration_guard/ as of git ``ref``, in ``dest`` (for ``--against``)."""
    if not dest.exists():
        dest.mkdir()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "migration_guard"],
            cwd=common.REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def drop(db: Database) -> None:
    with common.admin(db.backend) as cur:
        if db.backend == "postgresql":
            cur.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        else:
            cur.execute(f"DROP DATABASE IF EXISTS `{db.name}`")
    log(f"[{db.backend}] dropped {db.name}")


def _median(values: list[float]) -> str:
    return f"{common.median(values):.2f}" if values else "-"


def format_results(results: list[Result]) -> str:
    lines = [
        f"{'backend':<11} {'command':<36} {'wall s':>7} {'CPU s':>6} {'backup s':>9} "
        f"{'MiB':>7}  runs (backup s)"
    ]
    for r in results:
        runs = " ".join(f"{s:.2f}" for s in r.backup)
        size = common.median([float(s) for s in r.size]) / 2**20
        lines.append(
            f"{r.backend:<11} {r.command:<36} {_median(r.wall):>7} {_median(r.cpu):>6} "
            f"{_median(r.backup):>9} {size:>7.1f}  {runs}"
        )
    profiled = [r for r in results if r.steps]
    if profiled:
        lines.append("\nsteps under cProfile, median seconds (calls per backup):")
        for r in profiled:
            parts = [
                f"{label} {_median(r.steps[label])}"
                + (f" ({r.calls[label][0]})" if label in r.calls else "")
                for label, _, _ in STEPS
                if label in r.steps
            ]
            lines.append(f"  {r.backend} {r.command}: " + ", ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends", type=common.parse_backends, default=["postgresql", "mysql"]
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--small-tables", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--against",
        default=None,
        help="also time both commands with migration_guard/ of this git ref, "
        "alternating with the checkout's (before/after in one run)",
    )
    parser.add_argument("--json", type=Path, default=None)
    common.add_work_arguments(parser, "the generated project")
    args = parser.parse_args(argv)
    load_before = common.load_average()
    results: list[Result] = []
    failed: list[str] = []
    with common.exit_on_sigterm(), common.workdir(args.keep, "paths") as work:
        common.use_ref(args.ref, work)
        for backend in args.backends:
            problem = "SQLite is not measured" if backend == "sqlite" else None
            problem = problem or common.check_backend(backend)
            if problem:
                failed.append(f"{backend}: skipped ({problem})")
                continue
            try:
                results += run_backend(args, work, backend)
            except Exception as exc:
                log(f"[{backend}] failed: {exc}")
                failed.append(f"{backend}: failed ({type(exc).__name__}: {exc})"[:2000])
    text = "\n".join(
        [
            f"\nFull backup: guardedmigrate's pre-run backup vs migrationbackups "
            f"create, {args.size_mb} MiB, median of {args.runs} alternating runs",
            common.versions_line(load_before),
            *failed,
            format_results(results),
        ]
    )
    print(text)
    log(f"written to {common.write_results('backup_paths', text)}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
