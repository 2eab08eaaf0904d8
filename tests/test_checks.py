"""System checks and the lazily read SAFEMIGRATE setting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import safemigrate.checks
from safemigrate.checks import CHECK_IDS, check_settings
from safemigrate.conf import safemigrate_settings


def test_check_ids_are_unique_and_all_declared() -> None:
    ids = [check_id for check_id, _ in CHECK_IDS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"safemigrate\.[EW]\d{3}", i) for i in ids)
    package = Path(safemigrate.checks.__file__).parent
    used = set()
    for path in package.rglob("*.py"):
        used |= set(re.findall(r'"(safemigrate\.[EW]\d{3})"', path.read_text()))
    assert used == set(ids)


def test_defaults_are_valid(settings: Any) -> None:
    settings.SAFEMIGRATE = {}
    assert check_settings() == []


@pytest.mark.parametrize(
    ("value", "check_id", "fragment"),
    [
        ([], "safemigrate.E001", "SAFEMIGRATE must be a dict, not list."),
        ({"BACKUP": "sometimes"}, "safemigrate.E002", "'sometimes'"),
        ({"KEEP": 0}, "safemigrate.E003", "KEEP'] is 0"),
        ({"KEEP": True}, "safemigrate.E003", "KEEP'] is True"),
        ({"LOCK_TIMEOUT": -1}, "safemigrate.E004", "is -1"),
        ({"LOCK_TIMEOUT": "60"}, "safemigrate.E004", "is '60'"),
        ({"AUTO_RESTORE": "yes"}, "safemigrate.E005", "'yes'"),
        ({"DUMP_COMMANDS": {"postgresql": 16}}, "safemigrate.E006", "16"),
        ({"BACKUP_DIR": 42}, "safemigrate.E007", "is 42"),
        ({"LOCK_WAIT_TIMEOUT": -2}, "safemigrate.E014", "LOCK_WAIT_TIMEOUT'] is -2"),
        ({"STATEMENT_TIMEOUT": "1s"}, "safemigrate.E014", "TIMEOUT'] is '1s'"),
        ({"LOCK_WAIT_BACKOFF": None}, "safemigrate.E014", "BACKOFF'] is None"),
        ({"LOCK_WAIT_RETRIES": 1.5}, "safemigrate.E015", "RETRIES'] is 1.5"),
        ({"LOCK_WAIT_RETRIES": -1}, "safemigrate.E015", "RETRIES'] is -1"),
        ({"BACKUPS": "auto"}, "safemigrate.W001", "unknown key 'BACKUPS'"),
    ],
)
def test_invalid_values_are_reported_with_a_hint(
    settings: Any, value: Any, check_id: str, fragment: str
) -> None:
    settings.SAFEMIGRATE = value
    (message,) = check_settings()
    assert message.id == check_id
    assert fragment in message.msg
    assert message.hint


def test_settings_are_reread_when_changed(settings: Any, tmp_path: Path) -> None:
    settings.SAFEMIGRATE = {"LOCK_TIMEOUT": 5, "BACKUP_DIR": tmp_path}
    assert safemigrate_settings.LOCK_TIMEOUT == 5
    assert safemigrate_settings.backup_dir == tmp_path
    settings.SAFEMIGRATE = {"LOCK_TIMEOUT": 7}
    assert safemigrate_settings.LOCK_TIMEOUT == 7
    assert safemigrate_settings.KEEP == 10
    with pytest.raises(AttributeError, match="Unknown safemigrate setting: 'NOPE'"):
        safemigrate_settings.NOPE  # noqa: B018
