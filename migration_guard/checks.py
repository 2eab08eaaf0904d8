"""System checks for the ``MIGRATION_GUARD`` setting.

Every check id is declared once in :data:`CHECK_IDS` (a test asserts that ids
are unique and that every id used here is declared), each with a hint that
says what to write instead.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from migration_guard.conf import (
    AUTO_RESTORE_CHOICES,
    BACKUP_CHOICES,
    BACKUP_SCOPE_CHOICES,
    DEFAULTS,
)
from migration_guard.conf import migration_guard_settings as conf

CHECK_IDS: tuple[tuple[str, str], ...] = (
    ("migration_guard.E001", "MIGRATION_GUARD is not a dict"),
    ("migration_guard.E002", "BACKUP is not one of auto, never, always"),
    ("migration_guard.E003", "KEEP is not a positive integer"),
    ("migration_guard.E004", "LOCK_TIMEOUT is not a non-negative number"),
    ("migration_guard.E005", "AUTO_RESTORE is not one of auto, always, never"),
    ("migration_guard.E006", "DUMP_COMMANDS is not a dict of vendor to command"),
    ("migration_guard.E007", "BACKUP_DIR is not a path"),
    ("migration_guard.E008", "the backup directory is writable by other users"),
    ("migration_guard.E014", "LOCK_WAIT_TIMEOUT/STATEMENT_TIMEOUT/BACKOFF not >= 0"),
    ("migration_guard.E015", "LOCK_WAIT_RETRIES is not a non-negative integer"),
    ("migration_guard.E016", "BACKUP_JOBS is not a positive integer"),
    ("migration_guard.E017", "BACKUP_SCOPE is not one of auto, plan, full"),
    ("migration_guard.E018", "BACKUP_SCOPE_THRESHOLD is not a size in bytes"),
    ("migration_guard.E019", "POST_MIGRATE_WRITES is not receiver -> table names"),
    ("migration_guard.W001", "MIGRATION_GUARD has an unknown key"),
    ("migration_guard.W002", "a backup client binary is missing"),
    ("migration_guard.W003", "POST_MIGRATE_WRITES names no connected receiver"),
    ("migration_guard.W010", "RunPython/RunSQL without a reverse"),
    ("migration_guard.W011", "a data migration that also changes the schema"),
    ("migration_guard.W012", "RunPython uses the current models, not apps.get_model"),
    ("migration_guard.W013", "a migration mixes pre- and post-deploy operations"),
    ("migration_guard.W020", "PostgreSQL: an index built without CONCURRENTLY"),
    ("migration_guard.W021", "PostgreSQL: a unique constraint on an existing table"),
    ("migration_guard.W022", "PostgreSQL: a foreign key without NOT VALID"),
    ("migration_guard.W023", "PostgreSQL: a check constraint without NOT VALID"),
    ("migration_guard.W024", "PostgreSQL: a change that rewrites the table"),
    ("migration_guard.W025", "PostgreSQL: NOT NULL added to an existing column"),
    ("migration_guard.W030", "MySQL/MariaDB: a change that copies the table"),
    ("migration_guard.W031", "MySQL/MariaDB: a foreign key that copies the table"),
    ("migration_guard.W032", "MySQL/MariaDB: a check constraint that copies the table"),
)

_TITLES = dict(CHECK_IDS)


def _message(check_id: str, msg: str, hint: str) -> CheckMessage:
    assert check_id in _TITLES, check_id
    cls = Error if ".E" in check_id else Warning
    return cls(msg, hint=hint, id=check_id)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    from django.conf import settings

    raw = getattr(settings, "MIGRATION_GUARD", {})
    if not isinstance(raw, dict):
        return [
            _message(
                "migration_guard.E001",
                f"MIGRATION_GUARD must be a dict, not {type(raw).__name__}.",
                'Write MIGRATION_GUARD = {"BACKUP": "auto", ...} in your settings.',
            )
        ]
    messages: list[CheckMessage] = []
    for key in sorted(set(raw) - set(DEFAULTS)):
        messages.append(
            _message(
                "migration_guard.W001",
                f"MIGRATION_GUARD has an unknown key {key!r}; it is ignored.",
                "Known keys: " + ", ".join(DEFAULTS) + ".",
            )
        )
    messages += [
        _message(check_id, f"MIGRATION_GUARD[{key!r}] is {value!r}.", hint)
        for check_id, key, value, valid, hint in (*_value_rules(raw), *_scope_rules())
        if not valid(value)
    ]
    messages += _lock_wait_messages()
    messages += _post_migrate_writes_messages()
    return messages


def _post_migrate_writes_messages() -> list[CheckMessage]:
    """``POST_MIGRATE_WRITES``: its shape (E019), and a key that names no
    connected receiver (W003: a typo leaves the receiver it meant unknown,
    and every plan-scoped backup full)."""
    from migration_guard.backup.receivers import (
        SETTING_HINT,
        SETTING_NAME,
        connected,
        known_to_code,
        setting_problems,
    )

    value = conf.POST_MIGRATE_WRITES
    problems = setting_problems(value)
    if problems:
        return [_message("migration_guard.E019", p, SETTING_HINT) for p in problems]
    receivers = connected()
    stale = sorted(set(value) - {name for name, _ in receivers})
    if not stale:
        return []
    undeclared = sorted(
        {
            name
            for name, receiver in receivers
            if known_to_code(name, receiver) is None and name not in value
        }
    )
    hint = (
        "The connected post_migrate receivers that nothing declares: "
        + ", ".join(undeclared)
        + "."
        if undeclared
        else "Every connected post_migrate receiver is known or declared."
    )
    return [
        _message(
            "migration_guard.W003",
            f"{SETTING_NAME} names {key!r}, which is not a connected "
            "post_migrate receiver; the declaration is unused.",
            "Use the receiver's module.qualname exactly. " + hint,
        )
        for key in stale
    ]


def _is_dump_commands(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _is_count(value: Any) -> bool:
    """A whole number, at least 1 (``True`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_path(value: Any) -> bool:
    return (
        value is None or isinstance(value, str | bytes) or hasattr(value, "__fspath__")
    )


Rule = tuple[str, str, Any, Callable[[Any], bool], str]


def _scope_rules() -> tuple[Rule, ...]:
    """The settings of plan-scoped backups."""
    return (
        (
            "migration_guard.E017",
            "BACKUP_SCOPE",
            conf.BACKUP_SCOPE,
            lambda value: value in BACKUP_SCOPE_CHOICES,
            "Use 'auto' (the plan's tables above BACKUP_SCOPE_THRESHOLD, else "
            "the whole database), 'plan' or 'full'.",
        ),
        (
            "migration_guard.E018",
            "BACKUP_SCOPE_THRESHOLD",
            conf.BACKUP_SCOPE_THRESHOLD,
            lambda value: value is None or _is_count(value),
            "Use a database size in bytes above which backups hold only the "
            "plan's tables, e.g. 1024**3 (None: never by size).",
        ),
    )


def _value_rules(raw: dict[str, Any]) -> tuple[Rule, ...]:
    """Each setting checked by value: id, key, value, its test, the hint."""
    return (
        (
            "migration_guard.E002",
            "BACKUP",
            conf.BACKUP,
            lambda value: value in BACKUP_CHOICES,
            "Use 'auto' (before every non-empty plan), 'always' or 'never'.",
        ),
        (
            "migration_guard.E003",
            "KEEP",
            conf.KEEP,
            _is_count,
            "Use a whole number of backups to keep per database, at least 1.",
        ),
        (
            "migration_guard.E004",
            "LOCK_TIMEOUT",
            conf.LOCK_TIMEOUT,
            lambda value: _is_number(value) and value >= 0,
            "Use the number of seconds to wait for another run's lock, e.g. 60.",
        ),
        (
            "migration_guard.E005",
            "AUTO_RESTORE",
            conf.AUTO_RESTORE,
            lambda value: value in AUTO_RESTORE_CHOICES,
            "Use 'auto' (restore when a failed migration left DDL that the "
            "database could not roll back), 'always' or 'never'.",
        ),
        (
            "migration_guard.E006",
            "DUMP_COMMANDS",
            conf.DUMP_COMMANDS,
            _is_dump_commands,
            "Map a vendor to a client binary, e.g. "
            '{"postgresql": "/usr/lib/postgresql/16/bin/pg_dump"}.',
        ),
        (
            "migration_guard.E007",
            "BACKUP_DIR",
            raw.get("BACKUP_DIR"),
            _is_path,
            'Use a path, e.g. BASE_DIR / "backups".',
        ),
        (
            "migration_guard.E016",
            "BACKUP_JOBS",
            conf.BACKUP_JOBS,
            _is_count,
            "Use how many pg_dump/pg_restore jobs a PostgreSQL backup and "
            "restore run, e.g. 1 (one process, custom format) or 2.",
        ),
    )


def _lock_wait_messages() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key, nullable in (
        ("LOCK_WAIT_TIMEOUT", True),
        ("STATEMENT_TIMEOUT", True),
        ("LOCK_WAIT_BACKOFF", False),
    ):
        value = getattr(conf, key)
        if (value is None and nullable) or (_is_number(value) and value >= 0):
            continue
        messages.append(
            _message(
                "migration_guard.E014",
                f"MIGRATION_GUARD['{key}'] is {value!r}.",
                "Use a number of seconds"
                + (" (None or 0: no limit)." if nullable else ", e.g. 1.0."),
            )
        )
    retries = conf.LOCK_WAIT_RETRIES
    if not (
        isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0
    ):
        messages.append(
            _message(
                "migration_guard.E015",
                f"MIGRATION_GUARD['LOCK_WAIT_RETRIES'] is {retries!r}.",
                "Use how many times a migration that timed out waiting for a "
                "lock is tried again, e.g. 3 (0: never).",
            )
        )
    return messages


@register(Tags.compatibility)
def check_backup_dir(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """An existing local backup directory must be closed to other users."""
    from django.conf import settings

    from migration_guard.backup.storage import directory_hint, unsafe_directory

    if "migration_guard" in getattr(settings, "STORAGES", {}):
        return []
    try:
        directory = conf.backup_dir
        problem = unsafe_directory(directory)
    except (TypeError, ValueError):  # a bad BACKUP_DIR: E007 says so
        return []
    if problem is None:
        return []
    return [
        _message(
            "migration_guard.E008",
            f"MIGRATION_GUARD['BACKUP_DIR']: {problem}.",
            directory_hint(directory),
        )
    ]


@register(Tags.compatibility)
def check_backup_tools(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Report missing dump/restore binaries before a deploy needs them."""
    from django.db import connections

    from migration_guard.backup.base import BackupError, backend_class

    if conf.BACKUP == "never":
        return []
    messages: list[CheckMessage] = []
    for alias in connections:
        connection = connections[alias]
        try:
            backend = backend_class(connection.vendor)(connection)
        except BackupError as exc:
            messages.append(
                _message(
                    "migration_guard.W002",
                    f"Database '{alias}': {exc}",
                    "Pass --no-backup, or set MIGRATION_GUARD['BACKUP'] = 'never'.",
                )
            )
            continue
        for tool in backend.missing_tools():
            messages.append(
                _message(
                    "migration_guard.W002",
                    f"Database '{alias}' ({connection.vendor}): {tool} is not "
                    "installed or not on PATH, so migration_guard cannot back it up "
                    "or restore it.",
                    f"Install the {connection.vendor} client tools, or set "
                    f"MIGRATION_GUARD['DUMP_COMMANDS'] = {{'{connection.vendor}': "
                    "'/path/to/dump-binary'}.",
                )
            )
    return messages


@register("migration_guard", Tags.database)
def check_migrations(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The data-migration checks (W010-W012) of :mod:`migration_guard.gates.lint`.

    Imported only when a database is checked: the analysis needs Django's
    migrations package, which commands such as ``runserver`` never load
    (it costs them 50-90 ms).
    """
    if not kwargs.get("databases"):
        return []
    from migration_guard.gates.lint import check_migrations as lint_migrations

    return lint_migrations(app_configs, **kwargs)
