"""Which apps the gates look at by default: the project's own."""

from __future__ import annotations

from django.apps import apps
from django.db.migrations.loader import MigrationLoader

from migration_guard.gates import lint


def project_apps(loader: MigrationLoader) -> list[str]:
    """Labels of the project's own apps with migrations.

    The selection of :func:`migration_guard.gates.lint.is_project_app` (not Django's,
    not installed from a package), without migration_guard itself.
    """
    return sorted(
        config.label
        for config in apps.get_app_configs()
        if config.label in loader.migrated_apps
        and config.name != "migration_guard"
        and lint.is_project_app(config)
    )
