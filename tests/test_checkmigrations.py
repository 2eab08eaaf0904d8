"""``checkmigrations``: static gates, edited migrations, round trips; exit codes."""

from __future__ import annotations

import importlib
import io
import itertools
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.gates.locks import server_of
from migration_guard.models import MigrationRun
from tests.conftest import Database

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_packages = itertools.count()


def check(*args: str, **options: Any) -> tuple[int, str]:
    """Run checkmigrations; (exit code, stdout)."""
    out = io.StringIO()
    try:
        call_command("checkmigrations", *args, stdout=out, no_color=True, **options)
    except CheckFailed as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def check_json(*args: str, **options: Any) -> tuple[int, dict[str, Any]]:
    code, out = check(*args, format="json", **options)
    return code, json.loads(out)  # exactly one document


class Editable:
    """A copy of a scenario package whose files a test may rewrite."""

    def __init__(self, root: Path, scenario: str) -> None:
        self.package = f"editable_scenario_{next(_packages)}"
        self.path = root / self.package
        shutil.copytree(SCENARIOS / scenario, self.path)

    def file(self, name: str) -> Path:
        return self.path / f"{name}.py"

    def write(self, name: str, text: str) -> None:
        self.file(name).write_text(text)
        self.forget()

    def forget(self) -> None:
        for module in list(sys.modules):
            if module == self.package or module.startswith(self.package + "."):
                del sys.modules[module]
        shutil.rmtree(self.path / "__pycache__", ignore_errors=True)
        importlib.invalidate_caches()


@pytest.fixture
def editable(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Editable]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    package = Editable(tmp_path, "simple")
    settings.MIGRATION_MODULES = {"scenario": package.package}
    yield package
    package.forget()


EDITED = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("widget", "size", models.IntegerField(default=5)),
    ]
"""

REFORMATTED = """# Reformatted after it was applied: same operations.
from django.db import models, migrations


class Migration(migrations.Migration):

    dependencies = [
        ('scenario', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            'widget',
            'size',
            models.IntegerField(default=0),  # the default size
        ),
    ]
"""


def test_clean_project_passes(database: Database) -> None:
    call_command("guardedmigrate", verbosity=0)
    code, out = check("accounts", "catalog", "orders")
    assert code == 0
    assert out.splitlines() == [
        "Checking migrations of accounts, catalog, orders:",
        "  Conflicts: none",
        "  Data migrations (lint): none",
        "  Deploy phases (mixed migrations): none",
        f"  Lock-aware gates ({server_of(database.connection).describe()}): none",
        "  Other irreversible operations: none",
        "  Edited after being applied on database 'default': none",
        "All checks passed.",
    ]
    code, document = check_json()
    assert (code, document["outcome"], document["exit_code"]) == (0, "clean", 0)
    assert "migration_guard" not in document["apps"] and "auth" not in document["apps"]
    assert {"accounts", "catalog", "orders"} <= set(document["apps"])
    assert document["checks"]["roundtrip"] is None


def test_edited_applied_migration_is_reported_reformatted_is_not(
    database: Database, editable: Editable
) -> None:
    call_command("guardedmigrate", "scenario", verbosity=0)
    original = editable.file("0002_widget_size").read_text()

    editable.write("0002_widget_size", REFORMATTED)
    code, document = check_json("scenario")
    assert code == 0, document
    (note,) = document["checks"]["reformatted"]
    assert "0002_widget_size" in note and "operations did not" in note
    assert document["checks"]["edited"] == []

    editable.write("0002_widget_size", EDITED)
    code, out = check("scenario")
    assert code == 2
    path = str(editable.file("0002_widget_size"))
    assert (
        f"    scenario.0002_widget_size: scenario.0002_widget_size ({path}) was "
        "edited after it was applied: operation 1 (Add field size to widget) "
        "changed." in out.splitlines()
    )
    code, document = check_json("scenario")
    assert code == 2
    (problem,) = document["problems"]
    assert (problem["check"], problem["app"], problem["name"]) == (
        "edited",
        "scenario",
        "0002_widget_size",
    )
    assert "--accept scenario 0002_widget_size" in problem["hint"]

    # a deliberate edit is accepted, with a reason the ledger keeps
    code, out = check(accept=["scenario", "0002_widget_size"], reason="default 5")
    assert code == 0
    assert out.startswith(
        "Accepted the new checksum of scenario.0002_widget_size on database 'default'"
    )
    last = MigrationRun.objects.using("default").order_by("-id").first()
    assert last is not None and last.command == "checkmigrations --accept"
    assert last.executed[0]["reason"] == "default 5"
    assert check("scenario")[0] == 0

    editable.write("0002_widget_size", original)  # back to what was applied first
    assert check("scenario")[0] == 2


def test_accept_needs_a_reason(database: Database) -> None:
    with pytest.raises(UsageError, match="needs --reason"):
        call_command("checkmigrations", accept=["accounts", "0001_initial"])


@pytest.mark.backends("sqlite")
def test_conflicts_fail(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.conflict"}
    code, document = check_json("scenario")
    assert code == 2
    assert [(p["check"], p["message"]) for p in document["problems"]] == [
        (
            "conflict",
            "multiple leaf migrations in scenario: 0002_one, 0002_two",
        )
    ]


@pytest.mark.backends("sqlite")
def test_irreversible_operations_fail(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.customop"}
    code, out = check("scenario")
    assert code == 2
    assert (
        "    scenario.0001_freeze: operations[0] Freeze (inside "
        "SeparateDatabaseAndState) cannot be reversed: the migration cannot be "
        "unapplied." in out.splitlines()
    )

    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.sdas"}
    code, document = check_json("scenario")
    assert code == 2
    assert [
        (p["check"], p["name"], p["operation_index"]) for p in document["problems"]
    ] == [("migration_guard.W010", "0003_hidden_irreversible", 0)]


def test_roundtrip_names_table_and_column(database: Database, settings: Any) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.badreverse"}
    code, document = check_json("scenario", roundtrip=[])
    assert code == 2
    assert document["outcome"] == "failed"
    messages = [(p["check"], p["name"], p["message"]) for p in document["problems"]]
    assert messages[0] == (
        "roundtrip",
        "0002_legacy_code",
        "the backward step does not restore the schema: column "
        "scenario_gadget.legacy_code left behind (CharField(20) NULL); "
        f"re-applying it then failed: {messages[0][2].split('failed: ', 1)[1]}",
    )
    assert len(messages) == 1  # the stop that followed is part of it
    assert "not checked" in roundtrip_stopped(document)
    roundtrip = document["checks"]["roundtrip"]
    (difference,) = roundtrip["migrations"][1]["differences"]
    assert (difference["table"], difference["column"], difference["before"]) == (
        "scenario_gadget",
        "legacy_code",
        None,
    )
    assert roundtrip["summary"] == {
        "ok": 1,
        "mismatch": 1,
        "irreversible": 0,
        "error": 0,
        "not run": 1,
    }

    code, out = check("scenario", roundtrip=[])
    assert code == 2
    assert "  scenario.0002_legacy_code... the backward step does not restore" in out


def roundtrip_stopped(document: dict[str, Any]) -> str:
    return str(document["checks"]["roundtrip"]["stopped"])


def test_roundtrip_of_the_project_passes(database: Database) -> None:
    code, out = check("accounts", "catalog", roundtrip=[])
    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1] == "All checks passed."
    assert any(
        line.startswith("  accounts.0003_set_has_profile_picture... OK (apply ")
        for line in lines
    )
    assert database.tables() == set()  # the scratch database did the work


@pytest.mark.backends("sqlite")
def test_unknown_app_is_a_usage_error(database: Database) -> None:
    with pytest.raises(UsageError, match="No installed app with label 'nope'"):
        call_command("checkmigrations", "nope")
