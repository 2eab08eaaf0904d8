"""The ``MIGRATION_GUARD`` setting, read lazily and re-read when tests change it.

Values are not validated here: :mod:`migration_guard.checks` reports each invalid
value as a system check error with a hint, and the code that uses a value
calls the matching ``validate_*`` helper so a bad value never runs silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "BACKUP": "auto",
    "BACKUP_DIR": None,  # None: <BASE_DIR>/backups, or ./backups without BASE_DIR
    "KEEP": 10,
    "LOCK_TIMEOUT": 60,
    "AUTO_RESTORE": "auto",
    "DUMP_COMMANDS": {},
    # PostgreSQL: pg_dump/pg_restore jobs; > 1 takes directory-format backups
    "BACKUP_JOBS": 1,
    # what a pre-run backup holds: "auto" (the plan's tables when the database
    # is larger than BACKUP_SCOPE_THRESHOLD bytes, else all), "plan" or "full"
    "BACKUP_SCOPE": "auto",
    "BACKUP_SCOPE_THRESHOLD": 1024**3,
    # each migration's statements wait at most this long for a lock (seconds;
    # None or 0: no limit, no retries), and are retried this often
    "LOCK_WAIT_TIMEOUT": 5,
    "LOCK_WAIT_RETRIES": 3,
    "LOCK_WAIT_BACKOFF": 1.0,  # seconds before the 1st retry, doubled each time
    "STATEMENT_TIMEOUT": None,  # seconds a statement may run (PostgreSQL, MariaDB)
    # post_migrate receivers by module.qualname: the tables each writes (for
    # receivers a plan-scoped backup does not know; backup/receivers.py)
    "POST_MIGRATE_WRITES": {},
}

BACKUP_CHOICES = ("auto", "never", "always")
AUTO_RESTORE_CHOICES = ("auto", "always", "never")
BACKUP_SCOPE_CHOICES = ("auto", "plan", "full")


class Settings:
    """Attribute access to ``settings.MIGRATION_GUARD`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, "MIGRATION_GUARD", None)
        return value if isinstance(value, dict) else {}

    def _load(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = {**DEFAULTS, **self.user_settings}
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Unknown migration_guard setting: {name!r}")
        return self._load()[name]

    @property
    def backup_dir(self) -> Path:
        configured = self._load()["BACKUP_DIR"]
        if configured:
            return Path(configured)
        base = getattr(django_settings, "BASE_DIR", None)
        return Path(base) / "backups" if base else Path("backups").resolve()

    def reload(self) -> None:
        self._cache = None


migration_guard_settings = Settings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "MIGRATION_GUARD":
        migration_guard_settings.reload()
