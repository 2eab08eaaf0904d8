"""Progress on a terminal (a pseudo-terminal here), and nothing without one.

On a terminal: the backup (bytes and rate), the plan (migration n of N and the
time so far), a generated data migration's batches (rows done, rate, time
left). Not on a pipe or a file, and not with ``--format json``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migration_guard.run import progress
from tests.conftest import ROOT, TESTPROJECT, Database
from tests.test_makedatamigration import (  # noqa: F401  (the fixture)
    DMAPP,
    Project,
    populate,
    project,
    run,
)

pytestmark = pytest.mark.backends("sqlite")


def in_terminal(database: Database, *args: str, **env: str) -> tuple[int, str]:
    """Run manage.py with stdin, stdout and stderr on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(TESTPROJECT / "manage.py"), *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=database.env(**env),
        cwd=str(ROOT),
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # the other side closed (EIO on Linux)
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=300)
    os.close(controller)
    return process.returncode, b"".join(chunks).decode().replace("\r\n", "\n")


def settings_module(copies: Project, tmp_path: Path, settings: Any) -> str:
    """A settings module for a subprocess that sees the project's migrations."""
    name = f"progress_settings_{copies.package}"
    (tmp_path / f"{name}.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(copies.root)!r})\n"
        "from testproject.settings import *  # noqa: F403\n"
        "from testproject.settings import INSTALLED_APPS\n"
        f"INSTALLED_APPS = [*INSTALLED_APPS, {DMAPP!r}]\n"
        f"MIGRATION_MODULES = {settings.MIGRATION_MODULES!r}\n"
    )
    return name


def test_backup_plan_and_batches_show_progress_on_a_terminal(
    project: Project,  # noqa: F811  (the fixture imported above)
    database: Database,
    tmp_path: Path,
    settings: Any,
) -> None:
    run("migrate", verbosity=0)
    populate()  # 7 user profiles
    run(
        "makedatamigration",
        "accounts",
        "flags",
        template="backfill",
        model="UserProfile",
        field="has_profile_picture",
        expression="bool(profile_picture_url)",
        batch_size=3,
    )
    module = settings_module(project, tmp_path, settings)
    env = {
        "DJANGO_SETTINGS_MODULE": module,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(TESTPROJECT)]),
    }
    code, out = in_terminal(database, "guardedmigrate", "accounts", "--no-color", **env)
    assert code == 0, out
    assert re.search(r"\r\x1b\[K  Backing up: \d+\.\d MB, [\d.,]+ MB/s\r\x1b\[K", out)
    batches = re.findall(r"    forwards: (\d) of 7 rows, [\d,]+ rows/s, ETA \d+s", out)
    assert batches == ["3", "6", "7"]
    assert "  [1/1, " in out
    applying = out.split("  Applying accounts.0005_flags...", 1)[1]
    assert applying.startswith("\n    forwards: 3 of 7 rows, ")
    assert "\r\x1b[K    forwards: 6 of 7 rows, " in applying
    assert re.search(r"forwards: 7 of 7 rows, [\d,]+ rows/s, ETA 0s\n OK\n", applying)

    # the same run with --format json: one JSON document and nothing else
    run("migrate", "accounts", "0004", verbosity=0)
    code, out = in_terminal(
        database, "guardedmigrate", "accounts", "--format", "json", **env
    )
    assert code == 0, out
    document = json.loads(out)
    assert [e["name"] for e in document["executed"]] == ["0005_flags"]

    # and on a pipe: the output of old, no counters
    run("migrate", "accounts", "0004", verbosity=0)
    result = database.manage("guardedmigrate", "accounts", **env)
    assert result.returncode == 0, result.stderr
    assert "rows/s" not in result.stdout + result.stderr
    assert "MB/s" not in result.stdout + result.stderr
    assert "[1/1" not in result.stdout
    assert "  Applying accounts.0005_flags... OK\n" in result.stdout


def test_restore_shows_bytes_of_the_total_on_a_terminal(database: Database) -> None:
    assert database.manage("guardedmigrate", "-v", "0").returncode == 0
    listed = json.loads(
        database.manage("migrationbackups", "list", "--format", "json").stdout
    )
    backup = listed["backups"][0]
    code, out = in_terminal(
        database, "migrationbackups", "restore", backup["id"], "--noinput", "--no-color"
    )
    assert code == 0, out
    total = progress.megabytes(backup["size"])
    assert re.search(
        rf"  Restoring: \d+\.\d MB of {re.escape(total)}, [\d.,]+ MB/s, ETA \d+s",
        out,
    )
    assert "Ledger: run 2 recorded (success, " in out


def test_counters_only_on_a_terminal(tmp_path: Path) -> None:
    with open(tmp_path / "file", "w") as plain:
        assert progress.byte_counter(plain, "Backing up") is None
        assert progress.plan_counter(plain, 3) is None
    ticks = iter([0.0, 2.0, 4.0])

    class Terminal:
        text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    terminal = Terminal()
    report = progress.byte_counter(
        terminal, "Restoring", total=4 * 1048576, clock=lambda: next(ticks)
    )
    assert report is not None
    report(1048576)
    report(2 * 1048576)
    assert terminal.text == (
        "\r\x1b[K  Restoring: 1.0 MB of 4.0 MB, 0.5 MB/s, ETA 6s"
        "\r\x1b[K  Restoring: 2.0 MB of 4.0 MB, 0.5 MB/s, ETA 4s"
    )
