"""MariaDB's metadata_lock_info plugin, there or not for one test.

``with_plugin`` installs it (``INSTALL SONAME 'metadata_lock_info'``) when
the server lacks it, and leaves it installed: ``UNINSTALL SONAME`` while
other sessions read ``information_schema`` crashed MariaDB 10.11.19 (signal
11 in ``free_tmp_table``), and the server is shared. A server that refuses
the install skips the test with the reason, or fails it under ``CI=true``.
``without_plugin`` makes migration_guard look for a plugin that does not
exist (fault injection), so the server is never changed for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import DatabaseError

from migration_guard.run import blockers
from tests.conftest import IN_CI, Database


@pytest.fixture
def with_plugin(database: Database) -> Iterator[Database]:
    if database.vendor == "mysql":
        with database.connection.cursor() as cursor:
            if not blockers.mdl_plugin_active(cursor):
                try:
                    cursor.execute("INSTALL SONAME 'metadata_lock_info'")
                except DatabaseError as exc:
                    reason = f"INSTALL SONAME 'metadata_lock_info' refused: {exc}"
                    if IN_CI:
                        pytest.fail(reason)
                    pytest.skip(reason)
    yield database


@pytest.fixture
def without_plugin(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    monkeypatch.setattr(blockers, "MDL_PLUGIN", "MIGRATION_GUARD_NO_SUCH_PLUGIN")
    yield database
