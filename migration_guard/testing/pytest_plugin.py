"""pytest plugin: migration round trips and historical states in a project's tests.

Installed with migration_guard (entry point ``pytest11``), it adds, for projects
that use pytest-django:

* :func:`migration_roundtrip` (also a fixture of that name): every migration
  of the project's apps (or the labels given) applied, unapplied, compared
  and re-applied on a scratch database next to the test database; raises
  ``AssertionError`` with the report when a backward step does not restore
  the schema or fails::

      from migration_guard.testing.pytest_plugin import migration_roundtrip

      @pytest.mark.django_db
      def test_migrations_round_trip():
          migration_roundtrip()            # or migration_roundtrip(["shop"])

* the ``migrate_to`` fixture (it uses pytest-django's ``transactional_db``):
  migrates the test database to the given state and returns the historical
  apps of that state; at teardown the database goes back to the latest
  migrations::

      def test_backfill(migrate_to):
          old = migrate_to("shop", "0004_order_status")
          Order = old.get_model("shop", "Order")
          Order.objects.create(status="")
          new = migrate_to("shop", "0005_backfill_status")
          assert new.get_model("shop", "Order").objects.get().status == "new"

Nothing here runs unless a test asks for it: loading the plugin imports no
Django module, so projects without Django or pytest-django are not affected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest


def migration_roundtrip(
    app_labels: Iterable[str] | None = None, database: str = "default"
) -> Any:
    """Round-trip the migrations of ``app_labels`` on a scratch database.

    ``None`` takes the project's own apps (not Django's, not installed
    packages'). The scratch database lives on the server of ``database`` and
    is dropped afterwards. Returns the report
    (:class:`migration_guard.gates.roundtrip.Report`) when every backward step restores
    the schema; raises AssertionError listing the failures otherwise.
    Irreversible migrations are not failures here (``checkmigrations``
    reports them).
    """
    __tracebackhide__ = True  # pytest shows the test's line and the report
    from django.db.migrations.loader import MigrationLoader

    from migration_guard.gates.roundtrip import run_roundtrip
    from migration_guard.gates.selection import project_apps

    if app_labels is None:
        labels = project_apps(MigrationLoader(None, ignore_no_migrations=True))
    else:
        labels = [app_labels] if isinstance(app_labels, str) else list(app_labels)
    report = run_roundtrip(database, labels)
    if not report.ok:
        lines = "\n".join("  " + line for line in report.lines())
        raise AssertionError(
            f"Migration round trip of {', '.join(labels)} on {report.where} "
            f"(database '{database}'): {len(report.failures)} migration"
            f"{'s' if len(report.failures) != 1 else ''} failed:\n{lines}"
        )
    return report


@pytest.fixture(name="migration_roundtrip")
def migration_roundtrip_fixture(
    django_db_setup: Any, django_db_blocker: Any
) -> Callable[..., Any]:
    """:func:`migration_roundtrip`, with database access unblocked."""

    def run(app_labels: Iterable[str] | None = None, database: str = "default") -> Any:
        __tracebackhide__ = True
        with django_db_blocker.unblock():
            return migration_roundtrip(app_labels, database)

    return run


class Migrator:
    """Moves a database between migration states; back to the latest at the end."""

    def __init__(self, database: str = "default") -> None:
        self.database = database
        self.moved = False

    def _executor(self) -> Any:
        from django.db import connections
        from django.db.migrations.executor import MigrationExecutor

        return MigrationExecutor(connections[self.database])

    def targets(
        self, executor: Any, args: tuple[Any, ...]
    ) -> list[tuple[str, str | None]]:
        """``("app", "0002")``, ``("app", "zero")``, ``"app.0002"`` or pairs."""
        from migration_guard.run.planning import resolve_migration

        if len(args) == 2 and all(isinstance(arg, str) for arg in args):
            args = (tuple(args),)
        targets: list[tuple[str, str | None]] = []
        for target in args:
            app, name = target.split(".", 1) if isinstance(target, str) else target
            if name in (None, "zero"):
                targets.append((app, None))
            else:
                targets.append(resolve_migration(executor.loader, app, name))
        return targets

    def migrate(self, *args: Any) -> Any:
        """Migrate to the targets; the historical apps of that state."""
        executor = self._executor()
        targets = self.targets(executor, args)
        self.moved = True
        state = executor.migrate(targets)  # the state after, both ways
        self._clear_caches()
        return state.apps

    def latest(self) -> None:
        """Migrate every app to its latest migration."""
        executor = self._executor()
        executor.migrate(executor.loader.graph.leaf_nodes())
        self._clear_caches()

    @staticmethod
    def _clear_caches() -> None:
        from django.apps import apps

        if apps.is_installed("django.contrib.contenttypes"):
            from django.contrib.contenttypes.models import ContentType

            ContentType.objects.clear_cache()


@pytest.fixture
def migrate_to(transactional_db: Any) -> Iterator[Callable[..., Any]]:
    """Migrate the test database to a state; the historical apps of that state.

    ``migrate_to("app", "0002_x")``, ``migrate_to("app", "zero")``,
    ``migrate_to("app.0002_x", "other.0001")``; ``database="other"`` for
    another alias. Every database moved goes back to the latest migrations
    at teardown.
    """
    migrators: dict[str, Migrator] = {}

    def migrate(*targets: Any, database: str = "default") -> Any:
        migrator = migrators.setdefault(database, Migrator(database))
        return migrator.migrate(*targets)

    yield migrate
    for migrator in migrators.values():
        if migrator.moved:
            migrator.latest()
