"""Helpers shared by the benchmarks: scratch databases, timed manage.py runs, tables.

Scratch databases are named ``smbench_<purpose>_<pid>_<n>`` and dropped by
:class:`ScratchDatabases` when its ``with`` block ends. The servers are found
through environment variables (defaults match the CI/dev containers):

    SMBENCH_PG_URL      postgres://root@127.0.0.1:5432/postgres
    SMBENCH_MYSQL_URL   mysql://root@127.0.0.1:3306/mysql

Commands run as ``python manage.py ...`` in the generated project with
``DATABASE_URL`` set and the repository root first on ``PYTHONPATH``, so the
migration_guard under test is the checkout this file lives in (or, with
``--ref REF``, migration_guard/ of that git commit, exported to the work
directory: a stable version to measure while the checkout is being edited).
Bytecode caching is
on in those processes (``PYTHONDONTWRITEBYTECODE`` is dropped from their
environment unless ``SMBENCH_DONTWRITEBYTECODE=1``): otherwise every process
compiles the project's hundreds of migration files again, the same cost for
both tools, which would water the ratio down.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, NoReturn, TypeVar
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
PREFIX = "smbench_"
T = TypeVar("T")

PG_ADMIN_URL = os.environ.get(
    "SMBENCH_PG_URL", "postgres://root@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_URL = os.environ.get(
    "SMBENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"
)

BACKENDS = ("sqlite", "postgresql", "mysql")
_ALIASES = {
    "sqlite3": "sqlite",
    "postgres": "postgresql",
    "pg": "postgresql",
    "mariadb": "mysql",
}
TOOLS = ("migrate", "guardedmigrate")


@dataclass
class _Source:
    """Where the guardedmigrate under test comes from (see :func:`use_ref`)."""

    root: Path = REPO_ROOT
    ref: str | None = None


SOURCE = _Source()


class CommandFailed(RuntimeError):
    """A timed manage.py command exited non-zero."""


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def parse_backends(value: str) -> list[str]:
    """``"sqlite,postgres"`` -> ``["sqlite", "postgresql"]`` (argparse type)."""
    names = []
    for raw in value.split(","):
        name = _ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in BACKENDS:
            raise argparse.ArgumentTypeError(
                f"unknown backend {raw!r}; choose from {', '.join(BACKENDS)}"
            )
        if name not in names:
            names.append(name)
    return names


def add_common_arguments(
    parser: argparse.ArgumentParser, *, runs: int, quick_runs: int = 2
) -> None:
    parser.add_argument(
        "--backends",
        type=parse_backends,
        default=["sqlite", "postgresql"],
        help="comma-separated: sqlite, postgresql, mysql (default: sqlite,postgresql)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help=f"runs per tool (default {runs})"
    )
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument(
        "--migrations", type=int, default=None, help="total migrations (default 300)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {quick_runs} runs, 100 migrations",
    )
    parser.add_argument(
        "--backup",
        choices=("auto", "never", "always"),
        default=None,
        help="MIGRATION_GUARD['BACKUP'] of the generated project (default: "
        "migration_guard's own default); sets MIGRATION_GUARD_BACKUP for the commands",
    )
    add_work_arguments(parser, "the generated project")
    parser.set_defaults(_default_runs=runs, _quick_runs=quick_runs)


def add_work_arguments(parser: argparse.ArgumentParser, kept: str) -> None:
    """--keep (the work directory, holding ``kept``) and --ref."""
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the work directory with {kept} (its path is printed)",
    )
    parser.add_argument(
        "--ref",
        default=None,
        help="benchmark migration_guard/ as of this git commit (exported to the "
        "work directory) instead of the checkout's working tree",
    )


def resolve_sizes(args: argparse.Namespace) -> tuple[int, int]:
    """(runs, migrations) after --quick and explicit overrides; applies --backup."""
    if args.backup is not None:
        os.environ["MIGRATION_GUARD_BACKUP"] = args.backup  # inherited by commands
    runs = args.runs or (args._quick_runs if args.quick else args._default_runs)
    migrations = args.migrations or (100 if args.quick else 300)
    return runs, migrations


def use_ref(ref: str | None, workdir: Path) -> None:
    """Test migration_guard/ of git ``ref`` (exported to ``workdir``); None: here."""
    if ref is None:
        return
    proc = subprocess.run(
        ["git", "archive", "--format=tar", ref, "migration_guard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"git archive {ref}: {proc.stderr.decode().strip()}")
    dest = workdir / "src"
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        archive.extractall(dest, filter="data")
    SOURCE.root, SOURCE.ref = dest, ref


# ---------------------------------------------------------------------------
# Scratch databases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScratchDatabase:
    backend: str
    name: str
    url: str
    path: Path | None = None  # SQLite only


def _server(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "dbname": unquote(parts.path.lstrip("/")),
    }


def _database_url(admin_url: str, scheme: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return f"{scheme}://{parts.netloc}/{name}"


def _check_name(name: str) -> None:
    if not name.startswith(PREFIX) or not name.replace("_", "").isalnum():
        raise ValueError(f"scratch database names look like {PREFIX}x_1: {name!r}")


def connect(url: str, **options: Any) -> Any:
    """A DB-API connection in autocommit mode to the PostgreSQL or MySQL
    database of ``url`` (``options`` go to the driver's connect())."""
    server = _server(url)
    login = {"host": server["host"], "user": server["user"]}
    login["password"] = server["password"]
    if url.startswith("postgres"):
        import psycopg2

        conn = psycopg2.connect(
            **login,
            port=server["port"] or 5432,
            dbname=server["dbname"] or "postgres",
            **options,
        )
        conn.autocommit = True
        return conn
    import MySQLdb

    if server["dbname"]:
        login["database"] = server["dbname"]
    conn = MySQLdb.connect(**login, port=server["port"] or 3306, **options)
    conn.autocommit(True)
    return conn


@contextlib.contextmanager
def cursor_on(url: str) -> Iterator[Any]:
    """A cursor on a connection of its own to the database of ``url``."""
    conn = connect(url)
    try:
        cur = conn.cursor()
        try:
            yield cur
        finally:
            cur.close()
    finally:
        conn.close()


def client_login(url: str) -> tuple[list[str], dict[str, str]]:
    """Arguments and environment that log a client tool (pg_dump, psql,
    mariadb-dump, mariadb) in to the server of ``url``."""
    server = _server(url)
    postgres = url.startswith("postgres")
    port = server["port"] or (5432 if postgres else 3306)
    args = [f"--host={server['host']}", f"--port={port}"]
    if server["user"]:
        args.append(f"--{'username' if postgres else 'user'}={server['user']}")
    env = dict(os.environ)
    if server["password"]:  # a local benchmark: env, not argv
        env["PGPASSWORD" if postgres else "MYSQL_PWD"] = server["password"]
    return args, env


def admin(backend: str) -> contextlib.AbstractContextManager[Any]:
    """A cursor on the server of ``backend`` (postgresql or mysql), as admin."""
    return cursor_on(PG_ADMIN_URL if backend == "postgresql" else MYSQL_ADMIN_URL)


def create_database(backend: str, name: str, workdir: Path) -> ScratchDatabase:
    """Create an empty database ``name`` (dropping a leftover one first)."""
    _check_name(name)
    if backend == "sqlite":
        path = workdir / f"{name}.sqlite3"
        _remove_sqlite(path)
        return ScratchDatabase(backend, name, f"sqlite:///{path}", path)
    if backend == "postgresql":
        with admin("postgresql") as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        return ScratchDatabase(
            backend, name, _database_url(PG_ADMIN_URL, "postgres", name)
        )
    if backend == "mysql":
        with admin("mysql") as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                "COLLATE utf8mb4_unicode_ci"
            )
        return ScratchDatabase(
            backend, name, _database_url(MYSQL_ADMIN_URL, "mysql", name)
        )
    raise ValueError(f"unknown backend {backend!r}")


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", ".migration-guard-lock"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def drop_database(db: ScratchDatabase) -> None:
    _check_name(db.name)
    if db.backend == "sqlite":
        assert db.path is not None
        _remove_sqlite(db.path)
    elif db.backend == "postgresql":
        with admin("postgresql") as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
    elif db.backend == "mysql":
        with admin("mysql") as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{db.name}`")


class ScratchDatabases:
    """Creates scratch databases and drops every one of them on exit."""

    def __init__(self, workdir: Path, purpose: str) -> None:
        self.workdir = workdir
        self.purpose = purpose
        self.counter = 0
        self.live: dict[str, ScratchDatabase] = {}

    def __enter__(self) -> ScratchDatabases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.drop_all()

    def create(self, backend: str) -> ScratchDatabase:
        self.counter += 1
        name = f"{PREFIX}{self.purpose}_{os.getpid()}_{self.counter}"
        db = create_database(backend, name, self.workdir)
        self.live[name] = db
        return db

    def drop(self, db: ScratchDatabase) -> None:
        drop_database(db)
        self.live.pop(db.name, None)

    def drop_all(self) -> None:
        for db in list(self.live.values()):
            try:
                self.drop(db)
            except Exception as exc:  # report, keep dropping the others
                print(f"warning: could not drop {db.name}: {exc}", file=sys.stderr)


def check_backend(backend: str) -> str | None:
    """None when ``backend``'s server answers, else why not."""
    try:
        if backend != "sqlite":
            with admin(backend) as cursor:
                cursor.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


# ---------------------------------------------------------------------------
# Projects and commands
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def workdir(keep: bool, label: str) -> Iterator[Path]:
    """A temporary directory (removed afterwards unless ``keep``)."""
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{label}_"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def corpus_backups(work: Path) -> Path:
    """A private backup directory under ``work`` for the corpus project.

    The corpus keeps its backups where ``MIGRATION_GUARD_BACKUP_DIR`` says,
    else in the temporary directory, which a shared ``/tmp`` (mode 1777)
    makes a system check error (migration_guard.E008) that stops every
    ``manage.py`` run. Set in this process's environment unless set already.
    """
    backups = work / "backups"
    backups.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("MIGRATION_GUARD_BACKUP_DIR", str(backups))
    return backups


@contextlib.contextmanager
def session(
    args: argparse.Namespace, label: str
) -> Iterator[tuple[Path, ScratchDatabases]]:
    """One benchmark run: its work directory (with ``--ref``'s code exported
    into it) and its scratch databases, all removed afterwards."""
    with workdir(args.keep, label) as work, ScratchDatabases(work, label) as dbs:
        use_ref(getattr(args, "ref", None), work)
        yield work, dbs


def manage_env(url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if os.environ.get("SMBENCH_DONTWRITEBYTECODE") != "1":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    pythonpath = [str(SOURCE.root)]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    env.update(
        {
            "DATABASE_URL": url,
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "DJANGO_SETTINGS_MODULE": "benchproject.settings",
        }
    )
    env.update(extra or {})
    return env


def run_child(
    command: Sequence[str], *, cwd: Path | str, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``command`` to its end, output captured: the finished process, its
    wall-clock seconds and its CPU seconds (user + system of the reaped child
    and of the children it waited for)."""
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - usage_before.ru_utime) + (
        usage.ru_stime - usage_before.ru_stime
    )
    return proc, seconds, cpu


@dataclass(frozen=True)
class Timed:
    seconds: float  # wall clock
    cpu: float  # user + system CPU of the process and the children it waited for
    stdout: str
    stderr: str


def run_manage(
    project: Path,
    url: str,
    *args: str,
    env: dict[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
) -> Timed:
    """Run ``python manage.py *args``; time the whole subprocess.

    Wall clock is what a deploy pays. CPU time (from the rusage of the reaped
    child, so it includes e.g. a dump tool the command ran) is far less
    sensitive to other load on the machine, but leaves out time spent in the
    database server.
    """
    proc, seconds, cpu = run_child(
        [PYTHON, "manage.py", *args], cwd=project, env=manage_env(url, env)
    )
    if proc.returncode not in ok:
        raise CommandFailed(
            f"manage.py {' '.join(args)} exited {proc.returncode} on {url}:\n"
            + (proc.stdout + proc.stderr)[-4000:]
        )
    return Timed(seconds, cpu, proc.stdout, proc.stderr)


#: Run in the project directory by :func:`time_in_process`: sets Django up
#: once, then times ``call_command`` of each tool, alternating, after warm-up.
#: Connections are closed and garbage is collected before every call (outside
#: the timing), so each call connects and starts with a clean heap as a fresh
#: process would; system checks run as they do from the shell.
IN_PROCESS_SCRIPT = r"""
import cProfile, gc, io, json, sys, time
import django
django.setup()
from django.core.management import call_command
from django.db import connections

tools, runs, warmup, profile_dir = sys.argv[1].split(","), int(sys.argv[2]), \
    int(sys.argv[3]), sys.argv[4]
times = {tool: [] for tool in tools}
cpu = {tool: [] for tool in tools}
profiles = {tool: cProfile.Profile() for tool in tools}
for i in range(warmup + runs):
    for tool in tools if i % 2 == 0 else tools[::-1]:
        connections.close_all()
        gc.collect()
        out = io.StringIO()
        profile = profiles[tool] if profile_dir and i >= warmup else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        call_command(tool, stdout=out, stderr=out, skip_checks=False)
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        if i >= warmup:
            times[tool].append(seconds)
            cpu[tool].append(cpu_seconds)
if profile_dir:
    for tool, profile in profiles.items():
        profile.dump_stats(f"{profile_dir}/{tool}.prof")
print("SMBENCH" + json.dumps({"wall": times, "cpu": cpu}))
"""


def time_in_process(
    project: Path,
    url: str,
    tools: Sequence[str],
    runs: int,
    *,
    warmup: int = 1,
    profile_dir: Path | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Seconds of each ``call_command(tool)`` run in one Django process.

    Returns ``{"wall": {tool: [...]}, "cpu": {tool: [...]}}``.

    With ``profile_dir``, the timed calls also run under cProfile (which
    inflates the times) and ``<profile_dir>/<tool>.prof`` is written.
    """
    proc = subprocess.run(
        [
            PYTHON,
            "-c",
            IN_PROCESS_SCRIPT,
            ",".join(tools),
            str(runs),
            str(warmup),
            str(profile_dir or ""),
        ],
        cwd=project,
        env=manage_env(url),
        capture_output=True,
        text=True,
        check=False,
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("SMBENCH")]
    if proc.returncode != 0 or not marker:
        raise CommandFailed(
            f"in-process timing exited {proc.returncode} on {url}:\n"
            + (proc.stdout + proc.stderr)[-4000:]
        )
    result: dict[str, dict[str, list[float]]] = json.loads(marker[-1][len("SMBENCH") :])
    return result


# ---------------------------------------------------------------------------
# Statistics and the table
# ---------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass
class Row:
    backend: str
    tool: str
    median: float | None
    ratio: float | None = None
    target: float | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.median is None:
            return "ERROR"
        if self.ratio is None or self.target is None:
            return ""
        return "PASS" if self.ratio <= self.target else "FAIL"


def compare(
    backend: str,
    label: str,
    times: dict[str, list[float]],
    target: float,
    baseline: str = "migrate",
) -> list[Row]:
    """A row per tool; the non-baseline tools get ratio and verdict."""
    rows = []
    base = median(times[baseline])
    for tool, values in times.items():
        name = f"{tool} ({label})" if label else tool
        if tool == baseline:
            rows.append(Row(backend, name, base))
        else:
            rows.append(
                Row(backend, name, median(values), median(values) / base, target)
            )
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = ("backend", "tool", "median s", "ratio", "target", "result")
    cells = [header]
    for row in rows:
        cells.append(
            (
                row.backend,
                row.tool,
                "-" if row.median is None else f"{row.median:.3f}",
                "" if row.ratio is None else f"{row.ratio:.3f}",
                ""
                if row.target is None or row.ratio is None
                else f"<= {row.target:.2f}",
                row.verdict + (f" {row.note}" if row.note else ""),
            )
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    lines = []
    for n, line in enumerate(cells):
        left = [f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in
                enumerate(zip(line[:-1], widths, strict=True))]  # fmt: skip
        lines.append("  ".join([*left, line[-1]]).rstrip())
        if n == 0:
            lines.append("-" * max(len(x) for x in lines))
    return "\n".join(lines)


def code_version() -> str:
    """The commit of the checkout, with ``+dirty`` when migration_guard/ has edits."""

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip()

    if SOURCE.ref is not None:
        commit = git("rev-parse", "--short", SOURCE.ref) or SOURCE.ref
        dirty = ""
    else:
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = git("status", "--porcelain", "--", "migration_guard")
    backup = os.environ.get("MIGRATION_GUARD_BACKUP") or "default"
    return f"{commit}{'+dirty' if dirty else ''} (BACKUP: {backup})"


def load_average() -> str:
    """The 1-minute load average and the CPU count, to judge the noise."""
    try:
        one, _, _ = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load {one:.2f} on {os.cpu_count()} CPUs"


def alternating(runs: int, tools: Sequence[T]) -> Iterator[T]:
    """``tools`` ``runs`` times over, in reversed order every other round, so
    that no tool always runs right after the same one."""
    for i in range(runs):
        yield from tools if i % 2 == 0 else tools[::-1]


def versions_line(load_before: str) -> str:
    """What was measured, and how busy the machine was before and after."""
    return (
        f"migration_guard {code_version()}, Python {sys.version.split()[0]}, "
        f"{load_before} before / {load_average()} after"
    )


def reachable(backends: Sequence[str], rows: list[Row]) -> Iterator[str]:
    """The backends whose server answers; a row for each one that does not."""
    for backend in backends:
        problem = check_backend(backend)
        if problem is None:
            yield backend
        else:
            rows.append(Row(backend, "(server unreachable)", None))
            log(f"[{backend}] skipped: {problem}")


@contextlib.contextmanager
def failure_row(backend: str, rows: list[Row]) -> Iterator[None]:
    """A benchmark of one backend: if it fails, a row says so and the next
    backend is measured."""
    try:
        yield
    except Exception as exc:
        log(f"[{backend}] failed: {exc}")
        rows.append(Row(backend, f"({type(exc).__name__})", None))


def write_results(name: str, text: str) -> Path:
    """``text`` into bench/results/NAME-<date>-<time>.txt."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    path.write_text(text + "\n")
    return path


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)  # unwinds: finally blocks drop scratch databases


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """SIGTERM exits through the finally blocks (scratch databases dropped)."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def log(message: str) -> None:
    """Progress on stderr, so stdout is just the table."""
    print(message, file=sys.stderr, flush=True)


def describe_runs(values: Sequence[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def profile_diff(baseline: Path, candidate: Path, top: int = 15) -> str:
    """Where ``candidate`` spends time that ``baseline`` does not.

    Both are cProfile dumps of the same number of calls. Two lists: the
    functions of migration_guard itself by cumulative time (its wrapper around
    ``migrate``), and the other functions called more often in ``candidate``,
    by the extra cumulative time (work done twice, extra queries, ...).
    """
    import pstats

    Key = tuple[str, int, str]

    def load(path: Path) -> dict[Key, tuple[int, float, float]]:
        stats: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        return {key: (nc, tt, ct) for key, (_, nc, tt, ct, _) in stats.items()}

    def where(key: Key) -> str:
        filename, line, func = key
        for marker in ("site-packages/", f"{SOURCE.root}/"):
            if marker in filename:
                filename = filename.split(marker, 1)[1]
        return f"{filename}:{line}({func})"

    base, cand = load(baseline), load(candidate)
    own = sorted(
        (key for key in cand if key[0].startswith(f"{SOURCE.root}/migration_guard/")),
        key=lambda k: cand[k][2],
        reverse=True,
    )
    lines = ["migration_guard's own functions:", f"{'calls':>8} {'cum s':>8}  function"]
    lines += [f"{cand[k][0]:8d} {cand[k][2]:8.4f}  {where(k)}" for k in own[:top]]
    extra = []
    for key, (c_nc, _, c_ct) in cand.items():
        b_nc, _, b_ct = base.get(key, (0, 0.0, 0.0))
        if c_nc > b_nc and key not in own:
            extra.append((c_ct - b_ct, c_nc - b_nc, key))
    extra.sort(reverse=True)
    lines += [
        "other functions called more often than in migrate:",
        f"{'+calls':>8} {'+cum s':>8}  function",
    ]
    lines += [f"{d_nc:8d} {d_ct:8.4f}  {where(k)}" for d_ct, d_nc, k in extra[:top]]
    return "\n".join(lines)


@contextlib.contextmanager
def postgresql_scratch(name: str) -> Iterator[tuple[Path, ScratchDatabases]]:
    """A temporary directory and scratch PostgreSQL databases for a bench of
    PostgreSQL alone; exits (status 1, the reason on stderr) without a server."""
    reason = check_backend("postgresql")
    if reason:
        raise SystemExit(f"PostgreSQL unavailable: {reason}")
    with (
        tempfile.TemporaryDirectory(prefix=f"{PREFIX}{name}_") as tmp,
        ScratchDatabases(Path(tmp), name) as dbs,
    ):
        yield Path(tmp), dbs
