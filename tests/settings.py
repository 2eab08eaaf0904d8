"""Settings of the test suite: the testproject's apps, a database per test.

The ``default`` alias is re-pointed by the ``database`` fixture (see
``tests/conftest.py``) to a fresh, empty database of the backend under test.
"""

import tempfile
from pathlib import Path

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.scenarioapp"]

_SCRATCH = Path(tempfile.mkdtemp(prefix="migration-guard-tests-"))

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_SCRATCH / "unused.sqlite3"),
    }
}

MIGRATION_GUARD = {"BACKUP_DIR": _SCRATCH / "backups"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
