"""Fixtures: a fresh, real database per test on each selected backend.

A test that takes the ``database`` fixture runs once per backend in
``MIGRATION_GUARD_TEST_BACKENDS`` (sqlite, postgresql, mysql). An unreachable
server skips the test with the reason, or fails it when ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from migration_guard.backup import process
from tests import backends
from tests.schema import snapshot

ROOT = Path(__file__).resolve().parent.parent
TESTPROJECT = ROOT / "testproject"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vendor" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        wanted = backends.selected()
        if marker is not None:
            wanted = [name for name in wanted if name in marker.args]
        metafunc.parametrize("vendor", wanted)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for vendor in backends.selected():
        reason = backends.unavailable(vendor)
        lines.append(f"migration_guard backend {vendor}: {reason or 'available'}")
    return lines


@dataclass
class Database:
    """A real, empty database on the server of ``vendor``."""

    vendor: str
    name: str
    alias: str = "default"
    backup_dir: Path | None = None

    @property
    def server(self) -> backends.Server:
        return backends.server(self.vendor)

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    @property
    def connection(self) -> Any:
        return connections[self.alias]

    def activate(self) -> None:
        """Point Django's ``alias`` connection at this database."""
        configured = connections.configure_settings(
            {
                "default": dict(connections.settings["default"]),
                self.alias: self.server.settings(self.name),
            }
        )[self.alias]
        current = connections.settings.setdefault(self.alias, {})
        current.clear()
        current.update(configured)
        if self.alias in connections:
            connections[self.alias].close()
        del connections[self.alias]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.url,
            DJANGO_SETTINGS_MODULE="testproject.settings",
            PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTPROJECT)]),
        )
        if self.backup_dir is not None:
            env["MIGRATION_GUARD_BACKUP_DIR"] = str(self.backup_dir)
        env.update(extra)
        return env

    def manage(
        self, *args: str, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``testproject/manage.py`` against this database in a subprocess."""
        return subprocess.run(
            [sys.executable, str(TESTPROJECT / "manage.py"), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(ROOT),
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params or [])
            return list(cursor.fetchall()) if cursor.description else []

    def tables(self) -> set[str]:
        with self.connection.cursor() as cursor:
            return set(self.connection.introspection.table_names(cursor))

    def migration_rows(self) -> list[tuple[str, str]]:
        if "django_migrations" not in self.tables():
            return []
        return [
            (app, name)
            for app, name in self.query(
                "SELECT app, name FROM django_migrations ORDER BY id"
            )
        ]

    def schema(self) -> dict[str, Any]:
        return snapshot(self.connection)


@pytest.fixture(autouse=True)
def backup_dir(tmp_path: Path, settings: Any) -> Path:
    """Each test keeps its backups in its own directory."""
    path = tmp_path / "backups"
    settings.MIGRATION_GUARD = {
        **getattr(settings, "MIGRATION_GUARD", {}),
        "BACKUP_DIR": path,
    }
    return path


@pytest.fixture
def make_database(
    vendor: str, tmp_path: Path, django_db_blocker: Any, backup_dir: Path
) -> Iterator[Callable[..., Database]]:
    """Create fresh databases on ``vendor``'s server; drop them afterwards."""
    reason = backends.unavailable(vendor)
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true and the test backend is unavailable: {reason}")
        pytest.skip(reason)
    created: list[Database] = []

    def make(alias: str = "default", activate: bool = True) -> Database:
        if vendor == "sqlite":
            name = str(tmp_path / f"{backends.unique_name()}.sqlite3")
        else:
            name = backends.unique_name()
        backends.server(vendor).create(name)
        db = Database(vendor, name, alias, backup_dir)
        created.append(db)
        if activate:
            db.activate()
        return db

    with django_db_blocker.unblock():
        try:
            yield make
        finally:
            connections.close_all()
            for db in created:
                backends.server(vendor).drop(db.name)
                if db.alias != "default":  # later tests must not see the alias
                    connections.settings.pop(db.alias, None)
                    if db.alias in connections:
                        del connections[db.alias]


@pytest.fixture
def database(make_database: Callable[..., Database]) -> Database:
    """A fresh empty database on the backend under test, as the default alias."""
    return make_database()


@pytest.fixture
def argvs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every client command line migration_guard starts (it still runs)."""
    seen: list[list[str]] = []
    real = process.popen

    def recording(argv: Sequence[str], **kwargs: Any) -> Any:
        seen.append([str(arg) for arg in argv])
        return real(argv, **kwargs)

    monkeypatch.setattr(process, "popen", recording)
    yield seen
