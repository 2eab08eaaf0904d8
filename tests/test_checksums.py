"""Checksums of applied migrations: edits are found, reformatting is not."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from migration_guard.exceptions import UsageError, VerificationRefused
from migration_guard.gates.checksums import accept, edited_migrations
from migration_guard.models import MigrationRun
from tests.conftest import ROOT, TESTPROJECT, Database

SIMPLE = Path(__file__).parent / "scenarios" / "simple"

REFORMATTED_0002 = '''"""Adds the size of a widget (reformatted: same operations)."""
from django.db import models
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("scenario", "0001_initial"),
    ]

    # one operation, written differently
    operations = [
        migrations.AddField(
            "widget",
            "size",
            models.IntegerField(default=0),  # same field
        ),
    ]
'''

DATA_0003 = '''from django.db import migrations


def forwards(apps, schema_editor):
    """Name the widgets."""
    Widget = apps.get_model("scenario", "Widget")
    Widget.objects.using(schema_editor.connection.alias).update(name="x")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_widget_size")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
'''


class Package:
    """A copy of a scenario's migrations, importable, that a test can edit."""

    def __init__(self, root: Path) -> None:
        self.name = f"sm_edit_{uuid.uuid4().hex[:12]}"
        self.path = root / self.name
        shutil.copytree(SIMPLE, self.path, ignore=shutil.ignore_patterns("__pycache__"))

    def write(self, filename: str, text: str) -> None:
        (self.path / filename).write_text(text)
        self.forget()

    def edit(self, filename: str, old: str, new: str) -> None:
        text = (self.path / filename).read_text()
        assert old in text
        self.write(filename, text.replace(old, new))

    def forget(self) -> None:
        """Make the next loader read the files again."""
        shutil.rmtree(self.path / "__pycache__", ignore_errors=True)
        for module in [m for m in sys.modules if m.startswith(self.name + ".")]:
            del sys.modules[module]


@pytest.fixture
def package(tmp_path: Path, settings: Any) -> Iterator[Package]:
    sys.path.insert(0, str(tmp_path))
    sys.dont_write_bytecode, old = True, sys.dont_write_bytecode
    pkg = Package(tmp_path)
    settings.MIGRATION_MODULES = {"scenario": pkg.name}
    try:
        yield pkg
    finally:
        pkg.forget()
        sys.modules.pop(pkg.name, None)
        sys.path.remove(str(tmp_path))
        sys.dont_write_bytecode = old


def migrate(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("guardedmigrate", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def edits(alias: str = "default") -> list[Any]:
    return edited_migrations(alias, MigrationLoader(connections[alias]))


Migrated = Callable[[], None]


def test_applied_migrations_carry_their_checksum(
    database: Database, package: Package
) -> None:
    migrate("scenario", "--no-backup")
    run = MigrationRun.objects.get(outcome="success")
    entries = {entry["name"]: entry for entry in run.executed}
    assert set(entries) == {"0001_initial", "0002_widget_size"}
    for entry in entries.values():
        digest = entry["checksum"]
        assert len(digest["operations"]) == len(digest["file"]) == 64
    assert entries["0002_widget_size"]["checksum"]["described"] == [
        "Add field size to widget"
    ]
    assert edits() == []


def test_an_edited_operation_is_reported_and_reformatting_is_not(
    database: Database, package: Package
) -> None:
    migrate("scenario", "--no-backup")
    package.write("0002_widget_size.py", REFORMATTED_0002)
    (reformatted,) = edits()
    assert not reformatted.operations_changed
    assert reformatted.changed == []
    assert "reformatted" in reformatted.message()

    package.edit(
        "0002_widget_size.py", "IntegerField(default=0)", "BigIntegerField(default=0)"
    )
    (edit,) = edits()
    assert edit.operations_changed
    assert (edit.app_label, edit.name) == ("scenario", "0002_widget_size")
    assert edit.path == str(package.path / "0002_widget_size.py")
    assert edit.changed == ["operation 1 (Add field size to widget) changed"]
    assert edit.message() == (
        f"scenario.0002_widget_size ({edit.path}) was edited after it was "
        "applied: operation 1 (Add field size to widget) changed."
    )


def test_added_and_removed_operations_are_named(
    database: Database, package: Package
) -> None:
    migrate("scenario", "--no-backup")
    package.edit(
        "0002_widget_size.py",
        "    ]\n",
        '        migrations.AddField("widget", "weight", '
        "models.IntegerField(null=True)),\n"
        "    ]\n",
    )
    (edit,) = edits()
    assert edit.changed == ["operation 2 (Add field weight to widget) added"]
    package.edit(
        "0002_widget_size.py",
        'migrations.AddField("widget", "size", models.IntegerField(default=0)),',
        "",
    )
    (edit,) = edits()
    assert edit.changed == [
        "operation 1 (Add field weight to widget) changed, "
        "was: Add field size to widget"
    ]


def test_runpython_body_counts_its_comments_do_not(
    database: Database, package: Package
) -> None:
    package.write("0003_name_widgets.py", DATA_0003)
    migrate("scenario", "--no-backup")
    package.write(
        "0003_name_widgets.py",
        DATA_0003.replace(
            '"""Name the widgets."""', "# names every widget\n    # (batched)"
        ),
    )
    assert [e.operations_changed for e in edits()] == [False]
    package.write("0003_name_widgets.py", DATA_0003.replace('name="x"', 'name="y"'))
    (edit,) = edits()
    assert edit.operations_changed
    assert edit.changed[0].startswith("operation 1 (Raw Python operation) changed")


def test_guardedmigrate_refuses_a_plan_on_top_of_an_edited_migration(
    database: Database, package: Package
) -> None:
    migrate("scenario", "0001", "--no-backup")
    migrate("scenario", "--no-backup")
    package.edit(
        "0002_widget_size.py", "IntegerField(default=0)", "IntegerField(default=7)"
    )
    package.write("0003_name_widgets.py", DATA_0003)
    rows_before = database.migration_rows()
    with pytest.raises(VerificationRefused) as refused:
        migrate("scenario", "--no-backup")
    assert refused.value.returncode == 4
    message = str(refused.value)
    assert "1 applied migration was edited since it was applied" in message
    assert "scenario.0002_widget_size (" in message
    assert "operation 1 (Add field size to widget) changed" in message
    assert "checkmigrations --accept" in message
    assert database.migration_rows() == rows_before
    failed = MigrationRun.objects.order_by("-id").first()
    assert failed is not None and failed.outcome == "failed"

    migrate("scenario", "--no-backup", "--allow-edited")
    assert ("scenario", "0003_name_widgets") in database.migration_rows()


def test_accept_records_the_new_checksum_with_an_audit_entry(
    database: Database, package: Package
) -> None:
    migrate("scenario", "--no-backup")
    with pytest.raises(UsageError, match="nothing to accept"):
        accept("default", "scenario", "0002", "no change", ["test"])
    package.edit(
        "0002_widget_size.py", "IntegerField(default=0)", "IntegerField(default=7)"
    )
    with pytest.raises(UsageError, match="needs --reason"):
        accept("default", "scenario", "0002", " ", ["test"])
    with pytest.raises(UsageError, match="Cannot find a migration matching '0009'"):
        accept("default", "scenario", "0009", "typo", ["test"])
    edit = accept(
        "default", "scenario", "0002", "default only, schema unchanged", ["test"]
    )
    assert edit.operations_changed
    assert edits() == []
    audit = MigrationRun.objects.get(command="checkmigrations --accept")
    (entry,) = audit.executed
    assert sorted(entry) == [
        "action", "app", "changed", "checksum", "name", "previous", "reason",
    ]  # fmt: skip
    assert (entry["app"], entry["name"], entry["action"]) == (
        "scenario",
        "0002_widget_size",
        "accepted",
    )
    assert (audit.outcome, audit.error, audit.direction, audit.plan) == (
        "success",
        "",
        "none",
        [],
    )
    assert (audit.backup_id, audit.backup_note, audit.argv) == ("", "", ["test"])
    assert audit.finished_at is not None
    assert entry["reason"] == "default only, schema unchanged"
    assert entry["changed"] == ["operation 1 (Add field size to widget) changed"]
    assert entry["previous"]["operations"] != entry["checksum"]["operations"]


def test_unapplying_forgets_the_checksum(database: Database, package: Package) -> None:
    migrate("scenario", "--no-backup")
    migrate("scenario", "0001", "--no-backup", "--noinput")
    package.edit(
        "0002_widget_size.py", "IntegerField(default=0)", "IntegerField(default=7)"
    )
    assert edits() == []  # not applied: an edit before applying is just development


# --- stable: the same file gives the same checksum in every process ----------

RENAMES = "tests.scenarios.renames"
SCENARIOS = Path(__file__).parent / "scenarios"

#: prints the checksum of every migration of the testproject (contrib apps
#: included) and of every scenario, as JSON, from a process of its own
DUMP = """
import importlib, json, pathlib, sys
import django
from django.utils import translation
django.setup()
translation.activate(sys.argv[1])
from django.db.migrations.loader import MigrationLoader
from migration_guard.gates.checksums import checksum
found = {}
for (app, name), migration in MigrationLoader(None).disk_migrations.items():
    found[f"{app}.{name}"] = checksum(migration).as_json()
for package in sys.argv[2:]:
    base = f"tests.scenarios.{package}"
    folder = pathlib.Path(importlib.import_module(base).__path__[0])
    for path in sorted(folder.glob("0*.py")):
        module = importlib.import_module(f"{base}.{path.stem}")
        found[f"{package}.{path.stem}"] = checksum(
            module.Migration(path.stem, "scenario")).as_json()
print(json.dumps(found, sort_keys=True))
"""


def dump(seed: str, language: str = "en-us") -> dict[str, Any]:
    packages = sorted(
        p.name for p in SCENARIOS.iterdir() if (p / "__init__.py").exists()
    )
    env = {
        **os.environ,
        "PYTHONHASHSEED": seed,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTPROJECT)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", DUMP, language, *packages],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_checksums_are_the_same_in_every_process() -> None:
    first = dump("0")
    assert len(first) > 80
    renames = first["renames.0001_initial"]
    assert len(renames["each"]) == 3  # the lambda RunPython is checksummed too
    for seed, language in (("1", "en-us"), ("4242", "de"), ("random", "fr")):
        assert dump(seed, language) == first, (seed, language)


def renames_settings(db: Database, tmp_path: Path) -> dict[str, str]:
    """Environment of a manage.py run with the renames scenario installed."""
    (tmp_path / "renames_settings.py").write_text(
        "from tests.settings import *  # noqa\n"
        f"DATABASES = {{'default': {db.server.settings(db.name)!r}}}\n"
        f"MIGRATION_MODULES = {{'scenario': {RENAMES!r}}}\n"
        f"MIGRATION_GUARD = {{'BACKUP_DIR': {str(tmp_path / 'backups')!r}}}\n"
    )
    return {
        "DJANGO_SETTINGS_MODULE": "renames_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTPROJECT), str(tmp_path)]),
    }


def test_renames_applied_by_guardedmigrate_are_not_edits(
    database: Database, tmp_path: Path
) -> None:
    env = renames_settings(database, tmp_path)
    # contenttypes first: its pre_migrate handler acts once its table exists
    assert database.manage("migrate", "contenttypes", **env).returncode == 0
    first = database.manage("guardedmigrate", "scenario", "0003", "--no-backup", **env)
    assert first.returncode == 0, first.stderr
    assert "  Applying scenario.0003_rename_tag... OK\n" in first.stdout

    # what was recorded is what the files define, as another process reads them
    recorded = {
        entry["name"]: entry["checksum"]
        for run in MigrationRun.objects.filter(outcome="success")
        for entry in run.executed
        if entry["app"] == "scenario"
    }
    files = dump("0")
    assert recorded == {
        name: files[f"renames.{name}"]
        for name in ("0001_initial", "0002_rename_code", "0003_rename_tag")
    }
    assert recorded["0003_rename_tag"]["described"] == ["Rename model Tag to Label"]

    check = database.manage("checkmigrations", "--format", "json", **env)
    assert json.loads(check.stdout)["checks"]["edited"] == [], check.stdout
    second = database.manage("guardedmigrate", "--no-backup", **env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "  Applying scenario.0004_item_size... OK\n" in second.stdout
