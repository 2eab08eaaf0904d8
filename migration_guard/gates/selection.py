"""Which apps the gates look at: the ones named, or the project's own."""

from __future__ import annotations

from django.apps import apps
from django.db.migrations.loader import MigrationLoader

from migration_guard.exceptions import UsageError
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


def apps_to_check(loader: MigrationLoader, given: list[str]) -> list[str]:
    """The labels given (each an installed app with migrations), or the project's."""
    if not given:
        labels = project_apps(loader)
        if not labels:
            raise UsageError(
                "No app of the project has migrations (Django's and "
                "installed packages' apps are not checked unless named)."
            )
        return labels
    for label in given:
        try:
            apps.get_app_config(label)
        except LookupError:
            raise UsageError(
                f"No installed app with label '{label}'. Apps with migrations: "
                f"{', '.join(sorted(loader.migrated_apps))}."
            ) from None
        if label not in loader.migrated_apps:
            raise UsageError(f"App '{label}' does not have migrations.")
    return sorted(set(given))
