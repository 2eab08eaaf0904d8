"""Issue 12b on the corpus: previews without renders, checksums stable.

(Histories repaired by ``reconcile --fake``, squashed ones included, and
``--sql`` completing for every app are in ``test_corpus.py``.)

Each check runs one ``manage.py shell`` script inside the corpus project
(its apps, its settings) and reads the JSON it prints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.corpus.conftest import Corpus

PREVIEWS = """
import io, json
from django.core.management import call_command
from django.core.management.base import CommandError
from migration_guard.rollback.partial import render_count
from migration_guard.run.planning import build_plan, load, TargetSpec
result = {}
for app in sorted(load("default").loader.migrated_apps):
    operations = sum(
        len(step.migration.operations)
        for step in build_plan("default", TargetSpec(app, "zero")).steps
    )
    entry = result[app] = {"operations": operations}
    for key, sql in (("plain", False), ("sql", True)):
        out = io.StringIO()
        with render_count() as renders:
            try:
                call_command("rollbackplan", app, "zero", sql=sql, stdout=out)
                code = 0
            except CommandError as exc:
                code = exc.returncode
        entry[key] = {"exit": code, "renders": renders[0],
                      "blocks": out.getvalue().count("-- Unapply ")}
print("JSON" + json.dumps(result))
"""

#: each plan's backward SQL from the partial states against the SQL from the
#: walk's state rendered whole for every migration (what the executor's
#: ``_migrate_all_backwards`` renders): the same models, fields in the same
#: order (SQLite's table rebuilds spell out every column in that order)
WHOLE = """
import io, json
from migration_guard.rollback.backward_sql import write_backward_sql
from migration_guard.rollback.partial import Partial
from migration_guard.run.planning import build_plan, TargetSpec
def whole(self, migration, walk, code=False):
    state = walk.clone()
    state.apps
    return state
partial = Partial.state_for
result = {}
for app in APPS:
    plan = build_plan("default", TargetSpec(app, "zero"))
    outputs = []
    for state_for in (partial, whole):
        Partial.state_for = state_for
        out = io.StringIO()
        write_backward_sql(plan, out)
        outputs.append(out.getvalue().splitlines())
    result[app] = outputs
print("JSON" + json.dumps(result))
"""

CHECKSUMS = """
import json
from django.db.migrations.loader import MigrationLoader
from migration_guard.gates.checksums import checksum
print("JSON" + json.dumps({
    f"{app}.{name}": checksum(migration).as_json()
    for (app, name), migration in sorted(MigrationLoader(None).disk_migrations.items())
}))
"""


def script(corpus: Corpus, code: str) -> Any:
    proc = corpus.manage("shell", "-c", code)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("JSON")]
    return json.loads(line[4:])


def test_every_app_previews_to_zero_without_crash_or_model_renders(
    corpus_template: Corpus,
) -> None:
    result = script(corpus_template, PREVIEWS)
    assert len(result) >= 29
    for app, entry in result.items():
        plain, sql = entry["plain"], entry["sql"]
        assert plain["exit"] in (0, 8) and sql["exit"] == plain["exit"], app
        assert plain["renders"] == 0, app
        assert sql["blocks"] > 0, app
        assert sql["renders"] <= 16 * entry["operations"], (app, entry)


def test_partial_states_give_the_sql_of_whole_states(corpus_template: Corpus) -> None:
    """The models rendered for a migration are rendered as a whole state would."""
    apps = ["cms", "djangocms_picture", "djangocms_link", "filer", "corpusshop"]
    result = script(corpus_template, f"APPS = {apps!r}\n" + WHOLE)
    for app, (partial, whole) in result.items():
        assert len(partial) == len(whole), app
        differing = [
            (mine, theirs)
            for mine, theirs in zip(partial, whole, strict=True)
            # a callable default (timezone.now, a random key) differs per call
            if mine != theirs and "DEFAULT" not in mine and "INSERT INTO" not in mine
        ]
        assert differing == [], app


def test_checksums_are_the_same_in_every_process(
    corpus_template: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = []
    for seed in ("0", "1", "4242"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        found.append(script(corpus_template, CHECKSUMS))
    assert len(found[0]) >= 200
    assert found[1] == found[0]
    assert found[2] == found[0]
