"""The revert preview's SQL on the corpus, with and without the constraint
reads answered ahead (:mod:`migration_guard.rollback.prefetch`): for every
app, ``rollbackplan APP zero --sql`` prints the same lines, and the thread
really answered some of them."""

from __future__ import annotations

import re

import pytest

from tests.corpus.conftest import Corpus
from tests.corpus.test_corpus_previews import script

BOTH = """
import io, json
from django.core.management import call_command
from django.core.management.base import CommandError
from migration_guard.rollback import prefetch
from migration_guard.run.planning import load
answered = []
close = prefetch.ConstraintPrefetch.close
def noted(self):
    close(self)
    answered.append(self.answered)
prefetch.ConstraintPrefetch.close = noted
result = {}
for app in sorted(load("default").loader.migrated_apps):
    outputs = []
    for vendors in (("mysql", "postgresql"), ()):
        prefetch.VENDORS = vendors
        out = io.StringIO()
        try:
            call_command("rollbackplan", app, "zero", sql=True, stdout=out,
                         no_color=True)
            code = 0
        except CommandError as exc:
            code = exc.returncode
        outputs.append([code, out.getvalue().splitlines()])
    result[app] = outputs
print("JSON" + json.dumps({"apps": result, "answered": answered}))
"""


#: a callable default (timezone.now) differs per call
NOW = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?")


@pytest.mark.backends("postgresql", "mysql")
def test_every_app_prints_the_same_sql_with_and_without_prefetch(
    corpus_template: Corpus,
) -> None:
    result = script(corpus_template, BOTH)
    apps = result["apps"]
    assert len(apps) >= 29
    assert len(result["answered"]) == len(apps)  # one prefetch per app, none inline
    assert sum(result["answered"]) > 0
    for app, ((code, ahead), (inline_code, inline)) in apps.items():
        assert code == inline_code, app
        assert len(ahead) == len(inline), app
        differing = [
            (mine, theirs)
            for mine, theirs in zip(ahead, inline, strict=True)
            # a callable default (timezone.now, a random key) differs per call
            if NOW.sub("NOW", mine) != NOW.sub("NOW", theirs)
            and "DEFAULT" not in mine
            and "INSERT INTO" not in mine
        ]
        assert differing == [], app
