"""The pytest plugin, used by a project's own test suite (pytester, pytest-django).

Each test writes a small test module and a settings module into pytester's
directory and runs pytest on them in a subprocess, with the plugin loaded from
its ``pytest11`` entry point and pytest-django building the test database on
the backend under test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests import backends
from tests.conftest import IN_CI, ROOT, TESTPROJECT

pytest_plugins = ["pytester"]

SETTINGS = """
from tests.settings import *  # noqa

DATABASES = {{"default": {database!r}}}
MIGRATION_MODULES = {{"scenario": {scenario!r}}}
"""

TESTS = """
import pytest
from migration_guard.testing.pytest_plugin import migration_roundtrip


@pytest.mark.django_db
def test_helper_passes():
    report = migration_roundtrip(["accounts"])
    assert [r.status for r in report.results] == ["ok"] * 4


def test_fixture_fails_on_a_bad_reverse(migration_roundtrip):
    migration_roundtrip(["scenario"])


def test_migrate_to_and_back(migrate_to):
    old = migrate_to("accounts", "0002_userprofile_has_profile_picture")
    User = old.get_model("auth", "User")
    Profile = old.get_model("accounts", "UserProfile")
    for name, url in (("ann", "https://x/a.png"), ("bob", "")):
        Profile.objects.create(
            user=User.objects.create(username=name), profile_picture_url=url
        )
    assert not Profile.objects.filter(has_profile_picture=True).exists()
    new = migrate_to("accounts.0003_set_has_profile_picture")
    Profile = new.get_model("accounts", "UserProfile")
    flags = Profile.objects.order_by("user__username")
    assert [p.has_profile_picture for p in flags] == [True, False]
    assert "nickname" in [f.name for f in Profile._meta.get_fields()]
    migrate_to("sessions", "zero")
    from django.db import connection

    assert "django_session" not in connection.introspection.table_names()


@pytest.mark.django_db
def test_latest_again_after_migrate_to():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
"""


@pytest.fixture
def server(vendor: str) -> backends.Server:
    reason = backends.unavailable(vendor)
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true and the test backend is unavailable: {reason}")
        pytest.skip(reason)
    return backends.server(vendor)


def databases(server: backends.Server) -> set[str]:
    if server.vendor == "postgresql":
        sql = "SELECT datname FROM pg_database"
    else:
        sql = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
    conn = server._admin()
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}
    finally:
        conn.close()


def test_plugin_in_a_project_test_suite(
    pytester: pytest.Pytester,
    server: backends.Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    name = backends.unique_name("smplugin")
    if server.vendor == "sqlite":
        name = str(tmp_path / f"{name}.sqlite3")
    database: dict[str, Any] = server.settings(name)
    pytester.makepyfile(
        plugin_settings=SETTINGS.format(
            database=database, scenario="tests.scenarios.badreverse"
        ),
        test_project=TESTS,
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(pytester.path), str(ROOT), str(TESTPROJECT)])
    )
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)

    result = pytester.runpytest_subprocess(
        "-p", "pytest_django", "--ds=plugin_settings", "-p", "no:cacheprovider", "-v"
    )

    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("failed")) == (3, 1), result.stdout
    result.stdout.fnmatch_lines(["*test_fixture_fails_on_a_bad_reverse FAILED*"])
    text = result.stdout.str()
    assert re.search(
        r"AssertionError: Migration round trip of scenario on .*: 1 migration failed:",
        text,
    )
    assert (
        "scenario.0002_legacy_code: the backward step does not restore the schema: "
        "column scenario_gadget.legacy_code left behind (CharField(20) NULL)"
    ) in text
    if server.vendor != "sqlite":  # test database and scratch databases dropped
        assert [db for db in databases(server) if name in db] == []
