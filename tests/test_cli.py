"""One coherent command line: README against every parser, shared options, pipes.

The README test reads the "**Options of `command`**" table of each command's
section; when a helper adds an option, it fails naming the command, the option
and the side it is missing from.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from django.core.management import CommandError, call_command, load_command_class

from migration_guard.exceptions import UsageError
from migration_guard.models import MigrationRun
from tests.conftest import ROOT, TESTPROJECT, Database

COMMANDS = (
    "guardedmigrate",
    "rollbackplan",
    "rollback",
    "reconcile",
    "migrationbackups",
    "migrationhistory",
    "makedatamigration",
    "checkmigrations",
)

#: Django's own options of every command, documented by Django, not in README
DJANGO_BASE_OPTIONS = frozenset(
    {
        "-h",
        "--help",
        "--version",
        "-v",
        "--verbosity",
        "--settings",
        "--pythonpath",
        "--traceback",
        "--no-color",
        "--force-color",
        "--skip-checks",
    }
)

#: commands that do not take --database, with why (README says it too)
WITHOUT_DATABASE = {"makedatamigration": "writes a file, reads no database"}


def parser(name: str) -> argparse.ArgumentParser:
    return load_command_class("migration_guard", name).create_parser("manage.py", name)


def parser_options(name: str) -> set[str]:
    return {
        option
        for action in parser(name)._actions
        for option in action.option_strings
        if option not in DJANGO_BASE_OPTIONS
    }


def readme_options() -> dict[str, set[str]]:
    """Each "**Options of `command`**" table of README: the options it names."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tables: dict[str, set[str]] = {}
    for match in re.finditer(
        r"^\*\*Options of `(\w+)`\*\*.*\n\n((?:\|.*\n)+)", readme, flags=re.M
    ):
        name, rows = match.groups()
        assert name not in tables, f"README has two option tables for {name}"
        options: set[str] = set()
        for row in rows.splitlines()[2:]:  # after the header and |---|
            first_cell = row.split(" | ", 1)[0]
            for code in re.findall(r"`([^`]+)`", first_cell):
                options.add(code.split()[0])
        tables[name] = options
    return tables


def test_readme_documents_every_option_of_every_command() -> None:
    documented = readme_options()
    assert set(documented) == set(COMMANDS), "README option tables"
    mismatches = []
    for name in COMMANDS:
        defined = parser_options(name)
        for option in sorted(defined - documented[name]):
            mismatches.append(f"{name} {option}: in the parser, not in README")
        for option in sorted(documented[name] - defined):
            mismatches.append(f"{name} {option}: in README, not in the parser")
    assert mismatches == []


def test_every_command_takes_the_common_options() -> None:
    for name in COMMANDS:
        options = parser_options(name) | DJANGO_BASE_OPTIONS
        expected = {"--noinput", "--no-input", "--format", "-v"}
        if name not in WITHOUT_DATABASE:
            expected.add("--database")
        assert expected - options == set(), name
        formats = next(a for a in parser(name)._actions if a.dest == "format")
        assert formats.choices is not None and {"text", "json"} <= set(formats.choices)
    assert "--database" not in parser_options("makedatamigration")


def lock_timeout_actions() -> dict[str, argparse.Action]:
    return {
        name: action
        for name in COMMANDS
        for action in parser(name)._actions
        if "--lock-timeout" in action.option_strings
    }


def test_lock_timeout_is_the_same_everywhere() -> None:
    actions = lock_timeout_actions()
    assert sorted(actions) == [
        "guardedmigrate",
        "migrationbackups",
        "reconcile",
        "rollback",
    ]
    assert len({(a.help, a.metavar, a.type, a.default) for a in actions.values()}) == 1
    first = next(iter(actions.values()))
    assert first.metavar == "SECONDS" and first.default is None


@pytest.mark.backends("sqlite")
def test_negative_lock_timeout_is_refused(database: Database) -> None:
    for argv in (
        ["guardedmigrate", "--lock-timeout", "-1"],
        ["rollback", "--last", "--lock-timeout", "-0.5"],
        ["reconcile", "--fake", "--lock-timeout", "-1"],
        ["migrationbackups", "create", "--lock-timeout", "-3"],
    ):
        result = database.manage(*argv)
        assert result.returncode == 1, argv
        assert (
            f"error: argument --lock-timeout: {argv[-1]} is not 0 or more seconds"
            in result.stderr
        ), argv
    assert database.tables() == set()  # nothing was written anywhere
    with pytest.raises(UsageError, match=r"--lock-timeout -1: give 0 or more"):
        call_command("guardedmigrate", lock_timeout=-1, verbosity=0)
    assert database.tables() == set()
    result = database.manage("guardedmigrate", "--lock-timeout", "0", "-v", "0")
    assert result.returncode == 0, result.stderr


@pytest.mark.backends("sqlite")
def test_lock_wait_options_refuse_what_is_not_a_duration(database: Database) -> None:
    """``--lock-wait-timeout nan`` once ran, and failed inside the first
    migration with "cannot convert float NaN to integer" (exit 6, a failed run
    in the ledger)."""
    for flag in ("--lock-wait-timeout", "--lock-wait-backoff", "--statement-timeout"):
        for value in ("nan", "-1", "soon"):
            result = database.manage("guardedmigrate", flag, value)
            assert result.returncode == 1, (flag, value, result.stderr)
            assert f"error: argument {flag}: " in result.stderr, result.stderr
    assert database.tables() == set()  # nothing was written anywhere
    with pytest.raises(UsageError) as caught:
        call_command("guardedmigrate", lock_wait_timeout=float("nan"), verbosity=0)
    assert str(caught.value) == "--lock-wait-timeout must be 0 or more, not nan."
    assert database.tables() == set()


def test_help_texts_describe_guardedmigrate_not_migrate() -> None:
    text = parser("guardedmigrate").format_help()
    flat = " ".join(text.split())
    assert "Django will only check for an existing table name" not in flat
    assert "only where the live schema verifies their effects" in flat
    assert "match it in full (columns, types, keys, indexes, constraints)" in flat
    assert "a verified backup before every non-empty plan" in flat
    help_text = " ".join(parser("makedatamigration").format_help().split())
    syntax = help_text.index("Expressions (--expression) and conditions (--filter):")
    assert help_text.index("(see below)") < syntax
    assert (
        "the functions abs, bool, coalesce, concat, len, length, lower"
        in (help_text[syntax:])
    )


def run_command(name: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def ledger_line(run: MigrationRun) -> str:
    return (
        f"Ledger: run {run.pk} recorded ({run.get_outcome_display()}, "
        f"{run.duration:.2f}s)."
    )


def latest() -> MigrationRun:
    return MigrationRun.objects.order_by("-pk")[0]


@pytest.mark.backends("sqlite")
def test_every_recording_command_prints_its_ledger_line(database: Database) -> None:
    """And the duration there is the one migrationhistory shows."""
    out = run_command("guardedmigrate")
    run = latest()
    assert out.splitlines()[-1] == ledger_line(run)
    history = run_command("migrationhistory", run=run.pk)
    assert f"  Duration: {run.duration:.2f}s" in history.splitlines()
    table = run_command("migrationhistory").splitlines()
    assert f"{run.duration:.2f}s" in table[-1].split()

    out = run_command("rollback", last=True, interactive=False)
    assert latest().command == "rollback"
    assert out.splitlines()[-1] == ledger_line(latest())
    call_command("guardedmigrate", verbosity=0)

    database.query("DELETE FROM django_migrations WHERE app = 'sites'")
    out = run_command("reconcile", "sites", fake=True)
    assert latest().command == "reconcile"
    assert out.splitlines()[-1] == ledger_line(latest())

    created = run_command("migrationbackups", "create").splitlines()
    backup = created[-1].removeprefix("Backup id: ")
    out = run_command("migrationbackups", "restore", backup, interactive=False)
    assert latest().command == "migrationbackups restore"
    assert out.splitlines()[-1] == ledger_line(latest())

    document = json.loads(
        run_command(
            "guardedmigrate", "catalog", "0002", format="json", interactive=False
        )
    )
    run = latest()
    assert document["id"] == run.pk
    assert document["seconds"] == round(run.duration or 0, 6)


@pytest.mark.backends("sqlite")
def test_migrationhistory_outcome_takes_the_names_the_table_shows(
    database: Database,
) -> None:
    call_command("guardedmigrate", verbosity=0)
    call_command("guardedmigrate", verbosity=0)
    table = run_command("migrationhistory").splitlines()
    assert table[1].endswith("nothing to do") and table[2].endswith("success")
    for name in ("nothing to do", "Nothing  To Do", "noop"):
        result = database.manage("migrationhistory", "--outcome", name)
        assert result.returncode == 0, result.stderr
        rows = result.stdout.splitlines()[1:]
        assert [row.split()[0] for row in rows] == ["2"], name
    result = database.manage("migrationhistory", "--outcome", "nothing")
    assert result.returncode == 1
    assert (
        "argument --outcome: 'nothing' is not an outcome; the outcomes: 'running', "
        "'success', 'nothing to do', 'failed', 'failed, restored', "
        "'failed, restore failed', 'interrupted'"
    ) in result.stderr


def manage_into_closed_pipe(
    database: Database, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run manage.py with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, str(TESTPROJECT / "manage.py"), *args],
            env=database.env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            cwd=str(ROOT),
        )
    finally:
        os.close(write_end)


@pytest.mark.backends("sqlite")
def test_a_reader_that_goes_away_ends_every_command_quietly(
    database: Database,
) -> None:
    """No BrokenPipeError traceback, and the work is done all the same."""
    result = manage_into_closed_pipe(database, "guardedmigrate")
    assert (result.returncode, result.stderr) == (0, "")
    assert ("sites", "0002_alter_domain_unique") in database.migration_rows()
    assert MigrationRun.objects.get(pk=1).outcome == "success"
    for argv in (
        ["guardedmigrate", "--plan"],
        ["guardedmigrate", "--format", "json"],
        ["rollbackplan", "catalog", "0001", "--sql"],
        ["reconcile"],
        ["checkmigrations"],
        ["migrationhistory"],
        ["migrationhistory", "--help"],
        ["migrationbackups", "list"],
        ["makedatamigration", "--list-templates"],
        ["rollback", "--last", "--noinput"],
    ):
        result = manage_into_closed_pipe(database, *argv)
        assert (result.returncode, result.stderr) == (0, ""), argv
    assert MigrationRun.objects.order_by("-pk")[0].command == "rollback"
    assert ("orders", "0003_order_status") not in database.migration_rows()


@pytest.mark.backends("sqlite")
def test_piped_into_head(database: Database) -> None:
    manage = f"{sys.executable} {TESTPROJECT / 'manage.py'}"
    for command, lines in (
        ("guardedmigrate --plan | head -n 1", ["Planned operations:"]),
        ("guardedmigrate --help | head -n 0", []),
        ("rollbackplan --help | head -n 2", None),
    ):
        result = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {manage} {command}"],
            env=database.env(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(ROOT),
        )
        assert (result.returncode, result.stderr) == (0, ""), command
        if lines is not None:
            assert result.stdout.splitlines() == lines
        else:
            assert len(result.stdout.splitlines()) == 2


@pytest.mark.backends("sqlite")
def test_a_failed_run_prints_its_ledger_line_too(
    database: Database, settings: Any
) -> None:
    """The run is recorded when a migration fails: the line says so, then the error."""
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.failing"}
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("guardedmigrate", "scenario", stdout=out, no_color=True)
    run = latest()
    assert (run.command, run.outcome) == ("guardedmigrate", "failed")
    assert caught.value.returncode == 6
    assert out.getvalue().splitlines()[-1] == ledger_line(run)
