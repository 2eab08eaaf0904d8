"""MariaDB's metadata_lock_info plugin, installed or removed for one test.

``with_plugin`` installs it (``INSTALL SONAME 'metadata_lock_info'``) when
the server lacks it and removes it afterwards; a server that refuses skips
the test with the reason, or fails it under ``CI=true``. ``without_plugin``
removes it for the test and puts it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError

from tests.conftest import IN_CI, Database

ACTIVE = (
    "SELECT COUNT(*) FROM information_schema.PLUGINS "
    "WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'"
)


def _active(cursor: Any) -> bool:
    cursor.execute(ACTIVE)
    return bool(cursor.fetchone()[0])


def _switch(database: Database, on: bool) -> bool:
    """Install (``on``) or remove the plugin; whether it had to change."""
    with database.connection.cursor() as cursor:
        if _active(cursor) == on:
            return False
        verb = "INSTALL" if on else "UNINSTALL"
        try:
            cursor.execute(f"{verb} SONAME 'metadata_lock_info'")
        except DatabaseError as exc:
            reason = f"{verb} SONAME 'metadata_lock_info' refused: {exc}"
            if IN_CI:
                pytest.fail(reason)
            pytest.skip(reason)
    return True


@contextlib.contextmanager
def _plugin(database: Database, on: bool) -> Iterator[Database]:
    """The plugin installed (``on``) or not for the block, then as it was."""
    changed = _switch(database, on) if database.vendor == "mysql" else False
    try:
        yield database
    finally:
        if changed:
            _switch(database, not on)


@pytest.fixture
def with_plugin(database: Database) -> Iterator[Database]:
    with _plugin(database, True):
        yield database


@pytest.fixture
def without_plugin(database: Database) -> Iterator[Database]:
    with _plugin(database, False):
        yield database
