"""``make demo`` reads as a tour; the packaging builds without warnings."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, TESTPROJECT


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    tmp = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [
            sys.executable,
            str(TESTPROJECT / "demo.py"),
            "--database-file",
            str(tmp / "demo.sqlite3"),
            "--backup-dir",
            str(tmp / "backups"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def section(lines: list[str], title: str) -> list[str]:
    """The lines of the step called ``title``, up to the next step."""
    start = next(i for i, line in enumerate(lines) if line.endswith(f". {title}"))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("== ")),
        len(lines),
    )
    shown = lines[start:end]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def test_every_step_says_what_it_shows_then_shows_it(tour: list[str]) -> None:
    steps = [i for i, line in enumerate(tour) if re.match(r"== \d+\. ", line)]
    assert len(steps) == 11
    for number, index in enumerate(steps, 1):
        assert tour[index].startswith(f"== {number}. ")
        assert tour[index + 1].startswith("   ")  # the explanation
        shown = section(tour, tour[index].split(". ", 1)[1])
        assert any(line.startswith("$ python manage.py ") for line in shown)
    commands = [line for line in tour if line.startswith("$ ")]
    assert max(len(line) for line in commands) < 80
    assert tour[-1].startswith("== Done.")


def test_exit_codes_and_explanations_are_shown(tour: list[str]) -> None:
    check = section(tour, "The CI/deploy gate: --check")
    assert check[-2:] == ["$ python manage.py guardedmigrate --check", "(exit code 0)"]
    again = section(tour, "--check again")
    assert again[again.index("$ python manage.py guardedmigrate --check") + 1 :][
        :2
    ] == [
        "CheckFailed: 3 migrations to apply on database 'default': "
        "catalog.0002_default_category, catalog.0003_delete_legacyprice, "
        "orders.0003_order_status. 'manage.py guardedmigrate --plan' shows them all.",
        "(exit code 2)",
    ]
    reconcile = section(tour, "The live schema against the recorded history")
    assert "Reconciling database 'default' (18 tables read):" in reconcile
    assert (
        "  [X] 0002_default_category                        not verifiable from the "
        "schema; runs code only: Raw SQL operation"
    ) in reconcile  # the whole report, not its last line
    summary = reconcile.index(
        "Summary: 27 applied, 0 drift, 0 fakeable, 0 pending, 0 partial, "
        "4 not verifiable."
    )
    assert reconcile[summary + 1] == "(exit code 0)"
    assert reconcile[summary + 2].startswith("   'not verifiable' marks migrations")
    gate = section(tour, "The CI gate over the migration files")
    assert gate[-2:] == ["All checks passed.", "(exit code 0)"]
    ledger = section(tour, "The ledger")
    assert [row.split()[0] for row in ledger[4:]] == ["6", "5", "4", "3", "2", "1"]
    assert any(
        line.startswith("Ledger: run 5 recorded (success, ")
        for line in section(tour, "Undo the last run")
    )
    backups = section(tour, "The backups")
    assert re.fullmatch(
        r"Backup default-\d{8}T\d{12} verified: .* sha256 matches, complete "
        r"sqlite-backup file\.",
        backups[-1],
    )


def test_packaging_builds_without_warnings(tmp_path: Path) -> None:
    """``project.license`` is an SPDX expression, the license file is shipped."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "BuildBackendWarning" not in output
    assert "SetuptoolsDeprecationWarning" not in output
    (wheel,) = tmp_path.glob("django_migration_guard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    assert "License-Expression: BSD-3-Clause" in text.splitlines()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
