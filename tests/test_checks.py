"""System checks and the lazily read MIGRATION_GUARD setting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import checks

import migration_guard.checks
from migration_guard.checks import CHECK_IDS, check_settings
from migration_guard.conf import migration_guard_settings


def test_check_ids_are_unique_and_all_declared() -> None:
    ids = [check_id for check_id, _ in CHECK_IDS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"migration_guard\.[EW]\d{3}", i) for i in ids)
    package = Path(migration_guard.checks.__file__).parent
    used = set()
    for path in package.rglob("*.py"):
        used |= set(re.findall(r'"(migration_guard\.[EW]\d{3})"', path.read_text()))
    assert used == set(ids)


def test_defaults_are_valid(settings: Any) -> None:
    settings.MIGRATION_GUARD = {}
    assert check_settings() == []


@pytest.mark.parametrize(
    ("value", "check_id", "fragment"),
    [
        ([], "migration_guard.E001", "MIGRATION_GUARD must be a dict, not list."),
        ({"BACKUP": "sometimes"}, "migration_guard.E002", "'sometimes'"),
        ({"KEEP": 0}, "migration_guard.E003", "KEEP'] is 0"),
        ({"KEEP": True}, "migration_guard.E003", "KEEP'] is True"),
        ({"LOCK_TIMEOUT": -1}, "migration_guard.E004", "is -1"),
        ({"LOCK_TIMEOUT": "60"}, "migration_guard.E004", "is '60'"),
        ({"AUTO_RESTORE": "yes"}, "migration_guard.E005", "'yes'"),
        ({"DUMP_COMMANDS": {"postgresql": 16}}, "migration_guard.E006", "16"),
        ({"BACKUP_DIR": 42}, "migration_guard.E007", "is 42"),
        (
            {"LOCK_WAIT_TIMEOUT": -2},
            "migration_guard.E014",
            "LOCK_WAIT_TIMEOUT'] is -2",
        ),
        ({"STATEMENT_TIMEOUT": "1s"}, "migration_guard.E014", "TIMEOUT'] is '1s'"),
        ({"LOCK_WAIT_BACKOFF": None}, "migration_guard.E014", "BACKOFF'] is None"),
        ({"LOCK_WAIT_RETRIES": 1.5}, "migration_guard.E015", "RETRIES'] is 1.5"),
        ({"LOCK_WAIT_RETRIES": -1}, "migration_guard.E015", "RETRIES'] is -1"),
        ({"BACKUP_JOBS": 0}, "migration_guard.E016", "BACKUP_JOBS'] is 0"),
        ({"BACKUP_JOBS": "2"}, "migration_guard.E016", "BACKUP_JOBS'] is '2'"),
        ({"BACKUP_SCOPE": "tables"}, "migration_guard.E017", "SCOPE'] is 'tables'"),
        ({"BACKUP_SCOPE_THRESHOLD": "1G"}, "migration_guard.E018", "is '1G'"),
        ({"BACKUP_SCOPE_THRESHOLD": 0}, "migration_guard.E018", "THRESHOLD'] is 0"),
        ({"BACKUPS": "auto"}, "migration_guard.W001", "unknown key 'BACKUPS'"),
    ],
)
def test_invalid_values_are_reported_with_a_hint(
    settings: Any, value: Any, check_id: str, fragment: str
) -> None:
    settings.MIGRATION_GUARD = value
    (message,) = check_settings()
    assert message.id == check_id
    assert fragment in message.msg
    assert message.hint


def test_settings_are_reread_when_changed(settings: Any, tmp_path: Path) -> None:
    settings.MIGRATION_GUARD = {"LOCK_TIMEOUT": 5, "BACKUP_DIR": tmp_path}
    assert migration_guard_settings.LOCK_TIMEOUT == 5
    assert migration_guard_settings.backup_dir == tmp_path
    settings.MIGRATION_GUARD = {"LOCK_TIMEOUT": 7}
    assert migration_guard_settings.LOCK_TIMEOUT == 7
    assert migration_guard_settings.KEEP == 10
    with pytest.raises(AttributeError, match="Unknown migration_guard setting: 'NOPE'"):
        migration_guard_settings.NOPE  # noqa: B018


HINT = (
    "Map each receiver's module.qualname to the tables it writes, e.g. "
    '{"thirdparty.signals.create_defaults": ["thirdparty_defaults"], '
    '"otherapp.handlers.noop": []} ([]: it writes nothing).'
)


@pytest.mark.parametrize(
    ("writes", "msg"),
    [
        (
            ["auth_group"],
            "MIGRATION_GUARD['POST_MIGRATE_WRITES'] is ['auth_group'], not a dict.",
        ),
        (
            {"create_defaults": []},
            "MIGRATION_GUARD['POST_MIGRATE_WRITES'] has the key 'create_defaults', "
            "which is not a receiver's dotted module.qualname.",
        ),
        (
            {("app", "f"): []},
            "MIGRATION_GUARD['POST_MIGRATE_WRITES'] has the key ('app', 'f'), "
            "which is not a receiver's dotted module.qualname.",
        ),
        (
            {"app..f": []},
            "MIGRATION_GUARD['POST_MIGRATE_WRITES'] has the key 'app..f', "
            "which is not a receiver's dotted module.qualname.",
        ),
        (
            {"app.signals.f": "app_table"},
            "MIGRATION_GUARD['POST_MIGRATE_WRITES']['app.signals.f'] is "
            "'app_table', not a list of table names.",
        ),
        (
            {"app.signals.f": ["app_table", 3]},
            "MIGRATION_GUARD['POST_MIGRATE_WRITES']['app.signals.f'] is "
            "['app_table', 3], not a list of table names.",
        ),
        (
            {"app.signals.f": None},
            "MIGRATION_GUARD['POST_MIGRATE_WRITES']['app.signals.f'] is None, "
            "not a list of table names.",
        ),
    ],
)
def test_a_bad_post_migrate_writes_is_an_error(
    settings: Any, writes: Any, msg: str
) -> None:
    settings.MIGRATION_GUARD = {"POST_MIGRATE_WRITES": writes}
    (message,) = check_settings()
    assert (message.id, message.level, message.msg, message.hint) == (
        "migration_guard.E019",
        checks.ERROR,
        msg,
        HINT,
    )


def _create_defaults(**kwargs: Any) -> None:
    """A third party's post_migrate receiver, as the checks see it."""


@pytest.fixture
def create_defaults() -> Iterator[None]:
    from django.db.models.signals import post_migrate

    post_migrate.connect(_create_defaults, dispatch_uid="test_create_defaults")
    yield
    post_migrate.disconnect(dispatch_uid="test_create_defaults")


def test_a_declared_receiver_that_is_connected_is_valid(
    settings: Any, create_defaults: None
) -> None:
    settings.MIGRATION_GUARD = {
        "POST_MIGRATE_WRITES": {
            "tests.test_checks._create_defaults": ["auth_group"],
            "django.contrib.sites.management.create_default_site": [],
        }
    }
    assert check_settings() == []


def test_a_key_that_names_no_connected_receiver_is_a_warning(
    settings: Any, create_defaults: None
) -> None:
    settings.MIGRATION_GUARD = {
        "POST_MIGRATE_WRITES": {"tests.test_checks._create_default": []}
    }
    (message,) = check_settings()
    assert (message.id, message.level, message.msg, message.hint) == (
        "migration_guard.W003",
        checks.WARNING,
        "MIGRATION_GUARD['POST_MIGRATE_WRITES'] names "
        "'tests.test_checks._create_default', which is not a connected "
        "post_migrate receiver; the declaration is unused.",
        "Use the receiver's module.qualname exactly. The connected post_migrate "
        "receivers that nothing declares: tests.test_checks._create_defaults.",
    )


def test_a_stale_key_when_every_receiver_is_known_is_a_warning(
    settings: Any,
) -> None:
    settings.MIGRATION_GUARD = {"POST_MIGRATE_WRITES": {"gone.signals.seed": []}}
    (message,) = check_settings()
    assert (message.id, message.msg, message.hint) == (
        "migration_guard.W003",
        "MIGRATION_GUARD['POST_MIGRATE_WRITES'] names 'gone.signals.seed', which "
        "is not a connected post_migrate receiver; the declaration is unused.",
        "Use the receiver's module.qualname exactly. Every connected post_migrate "
        "receiver is known or declared.",
    )
