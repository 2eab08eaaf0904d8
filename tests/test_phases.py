"""``guardedmigrate --phase``: expand before the deploy, contract after it.

Real migration graphs (scenario packages swapped in with MIGRATION_MODULES)
on the three backends; the classification table itself without a database.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import migrations, models

from migration_guard.exceptions import UsageError
from migration_guard.run import phases
from migration_guard.run.phases import Phase
from tests.conftest import Database

PHASES = {"scenario": "tests.scenarios.phases"}


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("guardedmigrate", *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def applied(db: Database, app: str = "scenario") -> list[str]:
    return [name for label, name in db.migration_rows() if label == app]


def test_pre_deploy_stops_before_the_first_post_deploy_migration(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = PHASES
    out = run("scenario", phase="pre-deploy", no_backup=True)
    lines = out.splitlines()
    assert lines[:2] == [
        "Phase pre-deploy: 2 of 5 migrations to apply; stopped before "
        "scenario.0003_contract, which is post-deploy: operations[0] "
        "RemoveField(book.legacy) drops a column the previous release still reads.",
        "  Left for --phase post-deploy: scenario.0003_contract, "
        "scenario.0004_after (pre-deploy, but depends on scenario.0003_contract, "
        "which is post-deploy), scenario.0005_mixed.",
    ]
    assert "  Applying scenario.0001_initial... OK" in lines
    assert "  Applying scenario.0002_expand... OK" in lines
    assert applied(database) == ["0001_initial", "0002_expand"]
    columns = {c[0] for c in database.schema()["scenario_book"]["columns"]}
    assert {"isbn", "pages", "legacy"} <= columns
    # again: nothing left before the deploy, the same stop
    out = run("scenario", phase="pre-deploy", no_backup=True)
    assert out.splitlines()[0] == (
        "Phase pre-deploy: 0 of 3 migrations to apply; stopped before "
        "scenario.0003_contract, which is post-deploy: operations[0] "
        "RemoveField(book.legacy) drops a column the previous release still reads."
    )
    assert applied(database) == ["0001_initial", "0002_expand"]

    out = run("scenario", phase="post-deploy", no_backup=True)
    assert out.splitlines()[0] == (
        "Phase post-deploy: 3 migrations to apply (1 of them pre-deploy ones "
        "not applied before)."
    )
    assert applied(database) == [
        "0001_initial",
        "0002_expand",
        "0003_contract",
        "0004_after",
        "0005_mixed",
    ]
    run_rows = list(
        database.query("SELECT plan FROM migration_guard_migrationrun ORDER BY id")
    )
    plans = [
        [step["name"] for step in json.loads(row[0])]
        if isinstance(row[0], str)
        else [step["name"] for step in row[0]]
        for row in run_rows
    ]
    assert plans == [
        ["0001_initial", "0002_expand"],
        [],
        ["0003_contract", "0004_after", "0005_mixed"],
    ]


def test_markers_of_ours_syzygy_and_django_safemigrate(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.phase_markers"}
    out = run("scenario", phase="pre-deploy", no_backup=True)
    assert out.splitlines()[:2] == [
        "Phase pre-deploy: 4 of 5 migrations to apply; stopped before "
        "scenario.0005_after, which is post-deploy: marked safe = "
        "Safe.after_deploy() (django-safemigrate).",
        "  Left for --phase post-deploy: scenario.0005_after.",
    ]
    assert applied(database) == [
        "0001_initial",
        "0002_ours",
        "0003_syzygy",
        "0004_safemigrate",
    ]
    assert database.query("SELECT name FROM scenario_item") == []


def test_cross_app_dependency_on_a_post_deploy_migration_stops_the_phase(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.phase_cross"}
    call_command("guardedmigrate", "accounts", "0002", verbosity=0, no_backup=True)
    out = run("scenario", phase="pre-deploy", no_backup=True)
    assert out.splitlines()[:2] == [
        "Phase pre-deploy: 0 of 3 migrations to apply; stopped before "
        "accounts.0003_set_has_profile_picture, which is post-deploy: "
        "operations[0] RunPython(set_has_profile_picture) runs code the previous "
        "release's data may not agree with (mark the migration to run it before "
        "the deploy).",
        "  Left for --phase post-deploy: accounts.0003_set_has_profile_picture, "
        "accounts.0004_remove_userprofile_nickname, scenario.0001_initial "
        "(pre-deploy, but depends on accounts.0004_remove_userprofile_nickname, "
        "which is post-deploy).",
    ]
    assert applied(database) == []
    assert "scenario_badge" not in database.tables()
    run("scenario", phase="post-deploy", no_backup=True)
    assert applied(database) == ["0001_initial"]
    assert applied(database, "accounts")[-1] == "0004_remove_userprofile_nickname"


def test_phase_refuses_backward_plans_bad_markers_and_other_modes(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = PHASES
    run("scenario", phase="pre-deploy", no_backup=True)
    with pytest.raises(UsageError) as info:
        run("scenario", "0001", phase="post-deploy", no_backup=True, interactive=False)
    assert str(info.value) == (
        "--phase post-deploy applies migrations forwards; this plan unapplies "
        "migrations. Drop --phase to go back."
    )
    with pytest.raises(UsageError, match=r"^--phase goes with a plain run"):
        run("scenario", phase="pre-deploy", fake=True)
    assert applied(database) == ["0001_initial", "0002_expand"]


def test_a_marker_no_phase_matches_is_a_usage_error(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MIGRATION_MODULES = PHASES
    from tests.scenarios.phases import __name__ as package

    module = __import__(f"{package}.0001_initial", fromlist=["Migration"])
    monkeypatch.setattr(
        module.Migration, "migration_guard_phase", "before", raising=False
    )
    with pytest.raises(UsageError) as info:
        run("scenario", phase="pre-deploy", no_backup=True)
    assert str(info.value) == (
        "Migration scenario.0001_initial: migration_guard_phase = 'before' is not a "
        "phase ('pre-deploy', 'post-deploy'). Nothing was changed."
    )
    assert applied(database) == []


def _book(**kwargs: Any) -> models.Field:
    return models.CharField(max_length=20, **kwargs)


OLD = {"title": models.CharField(max_length=20), "note": _book(null=True)}


@pytest.mark.parametrize(
    ("operation", "phase", "reason"),
    [
        (migrations.CreateModel("x", []), Phase.PRE, "creates a table"),
        (migrations.DeleteModel("book"), Phase.POST, "drops a table"),
        (migrations.RenameModel("book", "tome"), Phase.POST, "renames a table"),
        (migrations.AlterModelTable("book", "t"), Phase.POST, "renames a table"),
        (migrations.AddField("book", "a", _book(null=True)), Phase.PRE, "nullable"),
        (
            migrations.AddField("book", "a", _book(db_default="x")),
            Phase.PRE,
            "database default",
        ),
        (migrations.AddField("book", "a", _book(default="x")), Phase.POST, "NOT NULL"),
        (
            migrations.AddField("book", "m", models.ManyToManyField("scenario.x")),
            Phase.PRE,
            "join table",
        ),
        (migrations.RemoveField("book", "title"), Phase.POST, "drops a column"),
        (migrations.RenameField("book", "a", "b"), Phase.POST, "renames a column"),
        (
            migrations.AlterField("book", "title", models.CharField(max_length=40)),
            Phase.PRE,
            "relaxes",
        ),
        (
            migrations.AlterField("book", "title", _book(null=True)),
            Phase.PRE,
            "relaxes",
        ),
        (migrations.AlterField("book", "note", _book()), Phase.POST, "NOT NULL"),
        (
            migrations.AlterField("book", "title", models.TextField()),
            Phase.POST,
            "changes the column",
        ),
        (
            migrations.AlterField("book", "title", _book(help_text="h")),
            Phase.PRE,
            "changes no column",
        ),
        (
            migrations.AlterField("book", "note", _book(null=True, default="x")),
            Phase.PRE,
            "changes no column",
        ),
        (
            migrations.AlterField("book", "gone", _book()),
            Phase.POST,
            "previous definition is unknown",
        ),
        (
            migrations.AddIndex("book", models.Index(fields=["title"], name="i")),
            Phase.PRE,
            "adds an index",
        ),
        (migrations.RemoveIndex("book", "i"), Phase.POST, "drops an index"),
        (migrations.RenameIndex("book", "j", "i"), Phase.PRE, "renames an index"),
        (
            migrations.AddConstraint(
                "book", models.UniqueConstraint(fields=["title"], name="u")
            ),
            Phase.POST,
            "adds a constraint",
        ),
        (migrations.RemoveConstraint("book", "u"), Phase.PRE, "drops a constraint"),
        (
            migrations.AlterUniqueTogether("book", {("title", "note")}),
            Phase.POST,
            "adds",
        ),
        (migrations.AlterUniqueTogether("book", set()), Phase.PRE, "drops unique"),
        (migrations.AlterIndexTogether("book", set()), Phase.PRE, "plain indexes"),
        (migrations.AlterOrderWithRespectTo("book", "x"), Phase.POST, "_order"),
        (migrations.AlterModelOptions("book", {}), Phase.PRE, "changes no table"),
        (migrations.AlterModelManagers("book", []), Phase.PRE, "changes no table"),
        (migrations.AlterModelTableComment("book", "c"), Phase.PRE, "no table"),
        (migrations.RunPython(print), Phase.POST, "runs code"),
        (migrations.RunPython(migrations.RunPython.noop), Phase.PRE, "nothing"),
        (migrations.RunSQL("UPDATE t SET a = 1"), Phase.POST, "runs SQL"),
        (
            migrations.SeparateDatabaseAndState(
                state_operations=[migrations.DeleteModel("book")]
            ),
            Phase.PRE,
            "state only",
        ),
        (
            migrations.SeparateDatabaseAndState(
                database_operations=[migrations.RemoveField("book", "title")]
            ),
            Phase.POST,
            "drops a column",
        ),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else "",
)
def test_classification_of_each_operation_type(
    operation: Any, phase: Phase, reason: str
) -> None:
    def old_field(model: str, name: str) -> models.Field | None:
        return OLD.get(name)

    def old_together(model: str, option: str) -> set[tuple[str, ...]]:
        return {("title",)}

    got, text, _ = phases.classify_operation(
        operation, "scenario", old_field, old_together
    )
    assert (got, reason in text) == (phase, True), text


def test_postgres_operations_and_operation_stage_markers() -> None:
    from django.contrib.postgres import operations as pg

    index = models.Index(fields=["title"], name="i")
    check = models.CheckConstraint(condition=models.Q(a__gt=0), name="c")
    cases = [
        (pg.AddIndexConcurrently("book", index), Phase.PRE),
        (pg.RemoveIndexConcurrently("book", "i"), Phase.POST),
        (pg.CreateExtension("hstore"), Phase.PRE),
        (pg.AddConstraintNotValid("book", check), Phase.POST),
        (pg.ValidateConstraint("book", "c"), Phase.POST),
    ]
    for operation, phase in cases:
        assert phases.classify_operation(operation, "scenario")[0] is phase
    marked = migrations.RemoveField("book", "title")
    marked.stage = "pre_deploy"  # type: ignore[attr-defined]  # syzygy's operations
    assert phases.classify_operation(marked, "scenario")[:2] == (
        Phase.PRE,
        "is marked stage = 'pre_deploy'",
    )


@pytest.mark.parametrize(
    ("value", "phase"),
    [(True, Phase.PRE), (False, Phase.POST), ("after_deploy", Phase.POST)],
)
def test_django_safemigrate_older_spellings(value: Any, phase: Phase) -> None:
    migration = migrations.Migration("0001_x", "scenario")
    migration.safe = value  # type: ignore[attr-defined]
    marked = phases.marker(migration)
    assert marked is not None and marked[0] is phase


def test_checkmigrations_flags_a_migration_mixing_both_phases(
    database: Database, settings: Any
) -> None:
    from tests.test_gates import checkmigrations

    settings.MIGRATION_MODULES = PHASES
    code, out = checkmigrations("scenario", format="json")
    document = json.loads(out)
    assert code == 2
    assert [
        (p["check"], p["name"], p["operation_index"], p["message"], p["hint"])
        for p in document["problems"]
    ] == [
        (
            "migration_guard.W013",
            "0005_mixed",
            0,
            "operations[0] CreateModel(Shelf) can run before the deploy but "
            "operations[2] RemoveField(author.bio) drops a column the previous "
            "release still reads: the whole migration waits for --phase "
            "post-deploy.",
            "Split it: move operations[0], operations[1] into a migration of their "
            "own before it (pre-deploy), or mark it with migration_guard_phase = "
            '"post-deploy", or silence it: migration_guard_silence = '
            '["migration_guard.W013"].',
        )
    ]
    # silenced in tests/scenarios/lockgates/0002_locks, which mixes both too
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.lockgates"}
    code, out = checkmigrations("scenario", format="json")
    assert json.loads(out)["checks"]["phases"] == []


def test_silenced_system_checks_silence_checkmigrations_gates_too(
    database: Database, settings: Any
) -> None:
    """SILENCED_SYSTEM_CHECKS silences an id everywhere, as for any check:
    checkmigrations once still failed a project that silenced W013 there."""
    from tests.test_gates import checkmigrations

    settings.MIGRATION_MODULES = PHASES
    settings.SILENCED_SYSTEM_CHECKS = ["migration_guard.W013"]
    code, out = checkmigrations("scenario", format="json")
    document = json.loads(out)
    assert code == 0
    assert document["problems"] == []
    assert document["checks"]["phases"] == []
    assert document["checks"]["silenced"] == {"migration_guard.W013": 1}
    code, out = checkmigrations("scenario")
    assert code == 0
    assert (
        "  Deploy phases (mixed migrations): none\n"
        "    note: 1 silenced by SILENCED_SYSTEM_CHECKS (migration_guard.W013)\n"
    ) in out


def test_rollbackplan_shows_each_migrations_phase(
    database: Database, settings: Any
) -> None:
    settings.MIGRATION_MODULES = PHASES
    run("scenario", no_backup=True, verbosity=0)
    out = io.StringIO()
    call_command("rollbackplan", "scenario", "0002", stdout=out, no_color=True)
    lines = out.getvalue().splitlines()
    phase_lines = [
        (lines[i - 2].strip(), line.strip())
        for i, line in enumerate(lines)
        if line.startswith("        phase: ")
    ]
    assert phase_lines == [
        ("[1] scenario.0005_mixed", "phase: post-deploy"),
        ("[2] scenario.0004_after", "phase: pre-deploy"),
        ("[3] scenario.0003_contract", "phase: post-deploy"),
    ]
    out = io.StringIO()
    call_command("rollbackplan", "scenario", "0002", stdout=out, format="json")
    document = json.loads(out.getvalue())
    assert [(m["name"], m["phase"]) for m in document["migrations"]] == [
        ("0005_mixed", "post-deploy"),
        ("0004_after", "pre-deploy"),
        ("0003_contract", "post-deploy"),
    ]


def test_manage_py_runs_the_phases_of_the_test_project(database: Database) -> None:
    first = database.manage("guardedmigrate", "--phase", "pre-deploy", "--no-backup")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == (
        "Phase pre-deploy: 3 of 31 migrations to apply; stopped before "
        "accounts.0002_userprofile_has_profile_picture, which is post-deploy: "
        "operations[0] AddField(userprofile.has_profile_picture) adds a NOT NULL "
        "column without db_default: the previous release's inserts do not set it "
        "and fail."
    )
    assert database.migration_rows() == [
        ("contenttypes", "0001_initial"),
        ("auth", "0001_initial"),
        ("accounts", "0001_initial"),
    ]
    second = database.manage("guardedmigrate", "--phase", "post-deploy", "--no-backup")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0] == (
        "Phase post-deploy: 28 migrations to apply (17 of them pre-deploy ones not "
        "applied before)."
    )
    assert len(database.migration_rows()) == 31
