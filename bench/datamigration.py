"""Benchmark: makedatamigration's templates vs the seed's save() loop and one UPDATE.

    python bench/datamigration.py [--rows 1000000] [--loop-rows 100000]
                                  [--runs 3] [--quick] [--keep]

The seed's data migration sets ``UserProfile.has_profile_picture`` from
``profile_picture_url``. On a PostgreSQL scratch database
(``smbench_datamig_<pid>_<n>``, dropped at the end) holding ``--rows``
profiles (a quarter with a picture URL, filled server-side with
``generate_series``), each variant is a real ``0005`` migration of the
testproject's ``accounts`` app, applied by ``manage.py migrate accounts
0005_...`` in a child process, which times the ``call_command("migrate")``
call (Django already set up) and reports its peak RSS (``ru_maxrss``):

* ``save_loop``: the seed's loop, ``for user in UserProfile.objects.all():
  ...; user.save()`` (run on ``--loop-rows`` rows: it loads every row into
  memory; its time per row is scaled to ``--rows`` for the ratio);
* ``update``: one hand-written ``UPDATE accounts_userprofile SET
  has_profile_picture = (profile_picture_url <> '')`` (``RunSQL``);
* ``backfill``: ``makedatamigration --template backfill --expression
  "bool(profile_picture_url)"`` (set-based ``update()`` over primary-key
  ranges), at the default batch size and at ``--big-batch``;
* ``custom``: ``makedatamigration --template custom``, filled in with the
  seed's logic (keyset batches changed in Python; two distinct values per
  batch, so written with one ``UPDATE ... WHERE pk IN`` per value), and
  ``custom_bulk_update``: the same file with grouping off, so every batch
  goes through ``bulk_update()``.

Every variant is checked (the right number of flags set). Between runs the
flags are reset, the migration record removed and the table vacuumed, so
that no run pays for the previous one's dead rows. Peak RSS of
``backfill`` and ``custom`` is also taken on a ``--loop-rows`` database, to
show that it does not grow with the row count.

Targets: templates >= 50x faster than the save loop, <= 3x the single
UPDATE, peak memory < 200 MB independent of the row count. Prints the table
and writes it to ``bench/results/datamigration-<time>.txt``. Always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import ScratchDatabase, log

SPEEDUP_TARGET = 50.0
UPDATE_TARGET = 3.0
RSS_TARGET_MB = 200.0
DEFAULT_ROWS = 1_000_000
DEFAULT_LOOP_ROWS = 100_000
DEFAULT_RUNS = 3
BIG_BATCH = 10_000
TESTPROJECT = common.REPO_ROOT / "testproject"

SAVE_LOOP = """\
from django.db import migrations


def set_has_profile_picture(apps, schema_editor):
    UserProfile = apps.get_model("accounts", "UserProfile")
    for user in UserProfile.objects.all():
        user.has_profile_picture = bool(user.profile_picture_url)
        user.save()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_remove_userprofile_nickname")]

    operations = [
        migrations.RunPython(set_has_profile_picture, migrations.RunPython.noop),
    ]
"""

ONE_UPDATE = """\
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_remove_userprofile_nickname")]

    operations = [
        migrations.RunSQL(
            "UPDATE accounts_userprofile "
            "SET has_profile_picture = (profile_picture_url <> '')",
            "UPDATE accounts_userprofile SET has_profile_picture = false",
        ),
    ]
"""

SETTINGS = """\
import os

from testproject.settings import *  # noqa: F403

DEBUG = False
MIGRATION_MODULES = {"accounts": "variants." + os.environ["SMBENCH_DM_VARIANT"]}
"""

#: Run in the project directory: Django set up, then the timed migrate call.
CHILD = r"""
import json, resource, sys, time
import django
django.setup()
from django.core.management import call_command
from django.db import connection
connection.ensure_connection()
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
call_command("migrate", "accounts", sys.argv[1], verbosity=0)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("SMBENCH" + json.dumps({"seconds": seconds, "baseline_kb": baseline,
                              "peak_kb": peak}))
"""


@dataclass
class Variant:
    name: str
    migration: str  # the 0005 migration's name
    rows: str  # "big" or "small": the database it runs on


@dataclass
class Result:
    variant: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    baseline_mb: float = 0.0

    @property
    def median(self) -> float:
        return common.median(self.seconds)

    @property
    def per_row(self) -> float:
        return self.median / self.rows


# ---------------------------------------------------------------------------
# The project and its variants
# ---------------------------------------------------------------------------


def make_project(work: Path) -> Path:
    """A copy of the testproject with one accounts migrations package per variant."""
    project = work / "project"
    shutil.copytree(
        TESTPROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3")
    )
    (project / "smbench_dm_settings.py").write_text(SETTINGS)
    (project / "variants").mkdir()
    (project / "variants" / "__init__.py").touch()
    return project


def new_package(project: Path, variant: str) -> Path:
    package = project / "variants" / variant
    shutil.copytree(
        TESTPROJECT / "accounts" / "migrations",
        package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return package


def env(project: Path, db: ScratchDatabase, variant: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environment.update(
        DATABASE_URL=db.url,
        DJANGO_SETTINGS_MODULE="smbench_dm_settings",
        PYTHONPATH=os.pathsep.join([str(project), str(common.SOURCE.root)]),
        SMBENCH_DM_VARIANT=variant,
    )
    return environment


def manage(
    project: Path, db: ScratchDatabase, variant: str, *args: str
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [common.PYTHON, "manage.py", *args],
        cwd=project,
        env=env(project, db, variant),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise common.CommandFailed(
            f"manage.py {' '.join(args)} ({variant}) exited {proc.returncode}:\n"
            + (proc.stdout + proc.stderr)[-4000:]
        )
    return proc


#: The seed's logic in the two functions of the custom template. They are
#: put before the Migration class, so they replace the template's stand-ins.
FILLED_IN = """
def forwards_row(obj):
    new = bool(obj.profile_picture_url)
    changed = obj.has_profile_picture != new
    obj.has_profile_picture = new
    return changed


def backwards_row(obj):
    changed = obj.has_profile_picture
    obj.has_profile_picture = False
    return changed


"""


def fill_custom(path: Path, grouped: bool) -> None:
    """The custom template with the seed's logic; ``grouped=False``: bulk_update."""
    text = path.read_text()
    marker = "class Migration(migrations.Migration):"
    text = text.replace(marker, FILLED_IN.lstrip("\n") + marker)
    if not grouped:
        text = text.replace("MAX_GROUPED_UPDATES = 20", "MAX_GROUPED_UPDATES = 0")
    path.write_text(text)


def make_variants(project: Path, db: ScratchDatabase) -> list[Variant]:
    variants = []
    new_package(project, "save_loop")
    (project / "variants" / "save_loop" / "0005_save_loop.py").write_text(SAVE_LOOP)
    variants.append(Variant("save_loop", "0005_save_loop", "small"))
    new_package(project, "update")
    (project / "variants" / "update" / "0005_update.py").write_text(ONE_UPDATE)
    variants.append(Variant("update", "0005_update", "big"))
    backfill = [
        "--template",
        "backfill",
        "--model",
        "UserProfile",
        "--field",
        "has_profile_picture",
        "--expression",
        "bool(profile_picture_url)",
    ]
    for name, extra in (("backfill", []), (f"backfill_{BIG_BATCH}", [str(BIG_BATCH)])):
        new_package(project, name)
        batch = ["--batch-size", *extra] if extra else []
        manage(
            project,
            db,
            name,
            "makedatamigration",
            "accounts",
            "flags",
            *backfill,
            *batch,
        )
        variants.append(Variant(name, "0005_flags", "big"))
    custom = [
        "--template",
        "custom",
        "--model",
        "UserProfile",
        "--fields",
        "has_profile_picture",
        "--read",
        "profile_picture_url",
    ]
    for name, grouped in (("custom", True), ("custom_bulk_update", False)):
        package = new_package(project, name)
        manage(project, db, name, "makedatamigration", "accounts", "flags", *custom)
        fill_custom(package / "0005_flags.py", grouped)
        variants.append(Variant(name, "0005_flags", "big"))
    return variants


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def pg(db: ScratchDatabase) -> Any:
    return common.connect(db.url)


def fill(project: Path, db: ScratchDatabase, rows: int) -> None:
    """Every table, then ``rows`` users and profiles; accounts back at 0004."""
    manage(project, db, "update", "migrate", "--verbosity", "0")
    conn = pg(db)
    with conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined) "
            "SELECT '!', false, 'user' || g, '', '', '', false, true, now() "
            "FROM generate_series(1, %s) AS g",
            [rows],
        )
        cursor.execute(
            "INSERT INTO accounts_userprofile (display_name, profile_picture_url, "
            "created_at, user_id, has_profile_picture) "
            "SELECT 'User ' || id, CASE WHEN id %% 4 = 0 THEN "
            "'https://img.example.com/' || id || '.png' ELSE '' END, now(), id, false "
            "FROM auth_user ORDER BY id",
            [],
        )
    conn.close()
    reset(db)


def reset(db: ScratchDatabase) -> None:
    """Flags off, 0005 unrecorded, dead rows vacuumed: the state before a run."""
    conn = pg(db)
    with conn.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_userprofile SET has_profile_picture = false "
            "WHERE has_profile_picture"
        )
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'accounts' "
            "AND name LIKE '0005%%'",
            [],
        )
        cursor.execute("VACUUM ANALYZE accounts_userprofile")
        cursor.execute("CHECKPOINT")
    conn.close()


def flagged(db: ScratchDatabase) -> int:
    conn = pg(db)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM accounts_userprofile WHERE has_profile_picture"
        )
        (count,) = cursor.fetchone()
    conn.close()
    return int(count)


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------


def run_variant(project: Path, db: ScratchDatabase, variant: Variant) -> dict[str, Any]:
    reset(db)
    proc = subprocess.run(
        [common.PYTHON, "-c", CHILD, variant.migration],
        cwd=project,
        env=env(project, db, variant.name),
        capture_output=True,
        text=True,
        check=False,
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("SMBENCH")]
    if proc.returncode != 0 or not marker:
        raise common.CommandFailed(
            f"{variant.name} exited {proc.returncode}:\n"
            + (proc.stdout + proc.stderr)[-4000:]
        )
    measured: dict[str, Any] = json.loads(marker[-1][len("SMBENCH") :])
    return measured


def bench(
    project: Path,
    dbs: dict[str, ScratchDatabase],
    sizes: dict[str, int],
    variants: list[Variant],
    runs: int,
) -> dict[tuple[str, str], Result]:
    results: dict[tuple[str, str], Result] = {}
    plan = [(v, v.rows) for v in variants]
    # memory at the small size too, for the templates
    plan += [
        (v, "small")
        for v in variants
        if v.name in ("backfill", "custom") and v.rows == "big"
    ]
    for round_number in range(runs):
        order = plan if round_number % 2 == 0 else plan[::-1]
        for variant, size in order:
            if variant.name == "save_loop" and round_number >= 2:
                continue  # slow and steady: two runs are enough
            db = dbs[size]
            log(f"  {variant.name} on {sizes[size]:,} rows (run {round_number + 1})")
            measured = run_variant(project, db, variant)
            expected = sizes[size] // 4
            got = flagged(db)
            if got != expected:
                raise AssertionError(
                    f"{variant.name}: {got} flags set, expected {expected}"
                )
            result = results.setdefault(
                (variant.name, size), Result(variant.name, sizes[size])
            )
            result.seconds.append(measured["seconds"])
            result.peak_mb = max(result.peak_mb, measured["peak_kb"] / 1024)
            result.baseline_mb = measured["baseline_kb"] / 1024
            log(
                f"    {measured['seconds']:.2f}s, peak RSS "
                f"{measured['peak_kb'] / 1024:.0f} MB"
            )
    return results


def report(
    results: dict[tuple[str, str], Result], sizes: dict[str, int], runs: int
) -> str:
    loop = results[("save_loop", "small")]
    update = results[("update", "big")]
    big = sizes["big"]
    loop_scaled = loop.per_row * big
    lines = [
        f"PostgreSQL, {big:,} profiles ({big // 4:,} with a picture URL); "
        f"save loop on {sizes['small']:,}, scaled per row; median of {runs} runs",
        "",
        f"{'variant':<22} {'rows':>10} {'median s':>9} {'vs save loop':>13} "
        f"{'vs UPDATE':>10} {'peak RSS':>9}",
    ]
    lines.append("-" * len(lines[-1]))
    for (name, _), result in sorted(
        results.items(), key=lambda item: (item[0][1] != "big", item[1].median)
    ):
        speedup = loop_scaled / (result.per_row * big)
        versus_update = (result.per_row * big) / update.median
        if name == "save_loop":
            cells = (f"{'(baseline)':>13}", f"{versus_update:>10.2f}")
        elif name == "update":
            cells = (f"{speedup:>12.0f}x", f"{'(baseline)':>10}")
        else:
            cells = (f"{speedup:>12.0f}x", f"{versus_update:>10.2f}")
        lines.append(
            f"{name:<22} {result.rows:>10,} {result.median:>9.2f} {cells[0]} "
            f"{cells[1]} {result.peak_mb:>6.0f} MB"
        )
    lines.append("")
    lines.append(
        f"save loop scaled to {big:,} rows: {loop_scaled:.1f}s "
        f"({loop.per_row * 1e6:.0f} us per row)"
    )
    for name in ("backfill", "custom"):
        small, large = results.get((name, "small")), results.get((name, "big"))
        if small and large:
            lines.append(
                f"{name}: peak RSS {small.peak_mb:.0f} MB on {small.rows:,} rows, "
                f"{large.peak_mb:.0f} MB on {large.rows:,} (Django set up: "
                f"{large.baseline_mb:.0f} MB)"
            )
    lines.append("")
    for name, result in ((n, r) for (n, s), r in results.items() if s == "big"):
        if name in ("update", "save_loop"):
            continue
        speedup = loop_scaled / result.median
        versus_update = result.median / update.median
        verdicts = [
            verdict(f"{speedup:.0f}x the save loop", speedup >= SPEEDUP_TARGET,
                    f">= {SPEEDUP_TARGET:.0f}x"),
            verdict(f"{versus_update:.2f}x the UPDATE", versus_update <= UPDATE_TARGET,
                    f"<= {UPDATE_TARGET:.0f}x"),
            verdict(f"{result.peak_mb:.0f} MB", result.peak_mb < RSS_TARGET_MB,
                    f"< {RSS_TARGET_MB:.0f} MB"),
        ]  # fmt: skip
        lines.append(f"{name}: " + ", ".join(verdicts))
    return "\n".join(lines)


def verdict(measured: str, passed: bool, target: str) -> str:
    return f"{measured} ({'PASS' if passed else 'FAIL'} {target})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--loop-rows", type=int, default=DEFAULT_LOOP_ROWS)
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help=f"runs per variant (default {DEFAULT_RUNS})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 40,000/4,000 rows, 1 run"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (project)"
    )
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else DEFAULT_RUNS)
    sizes = {
        "big": 40_000 if args.quick else args.rows,
        "small": 4_000 if args.quick else args.loop_rows,
    }
    problem = common.check_backend("postgresql")
    if problem is not None:
        print(f"ERROR postgresql: server unreachable: {problem}")
        return 0
    load_before = common.load_average()
    started = time.perf_counter()
    with common.session(args, "datamig") as (work, scratch):
        project = make_project(work)
        dbs = {size: scratch.create("postgresql") for size in sizes}
        log("generating the migrations")
        variants = make_variants(project, dbs["big"])
        for size, db in dbs.items():
            log(f"filling {db.name} with {sizes[size]:,} profiles")
            fill(project, db, sizes[size])
        results = bench(project, dbs, sizes, variants, runs)
    text = report(results, sizes, runs)
    elapsed = time.perf_counter() - started
    text += f"\n\n{elapsed:.0f}s in all; {common.versions_line(load_before)}"
    print(text)
    path = common.write_results("datamigration", text)
    print(f"written to {path.relative_to(common.REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
