"""What ``post_migrate`` receivers write after every run.

``migrate`` sends ``post_migrate`` once the plan has run; its receivers write
tables the plan's operations do not name. A plan-scoped backup must hold
them, so each receiver must be known: Django's own (content types,
permissions, the default site), receivers that write nothing, and any
function with a ``migration_guard_writes`` attribute (table names). A
third party's receiver cannot carry the attribute without monkeypatching, so
``MIGRATION_GUARD["POST_MIGRATE_WRITES"]`` declares it by name. Another
receiver may write anything: the backup is then of the whole database.

Precedence: the three sources add up. A receiver's tables are the union of
what :data:`KNOWN`, its attribute and the setting say, so a declaration can
add tables to the scope but never take one out of it; the setting alone
decides only for a receiver nothing else knows (an empty list: it writes
nothing). A declaration that names fewer tables than the receiver writes
leaves those tables out of the backup: the user who writes it answers for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models.signals import post_migrate

from migration_guard.compat.management import (
    import_management_packages,
    signal_receivers,
)
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import UsageError

#: the attribute on a receiver function that declares the tables it writes
WRITES_ATTRIBUTE = "migration_guard_writes"
#: the key of ``MIGRATION_GUARD`` that declares receivers' tables by name
SETTING = "POST_MIGRATE_WRITES"
#: how a message names the setting
SETTING_NAME = f"MIGRATION_GUARD[{SETTING!r}]"


def _user_table() -> tuple[str, ...] | None:
    """django-guardian's anonymous user: saved into the user model's table,
    when its default GET_INIT_ANONYMOUS_USER makes it (another may do more)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    init = getattr(settings, "GUARDIAN_GET_INIT_ANONYMOUS_USER", None)
    if init not in (None, "guardian.management.get_init_anonymous_user"):
        return None
    return (str(get_user_model()._meta.db_table),)


#: receivers by ``module.qualname``: the tables each writes (a function: the
#: tables under the current settings, None when it cannot tell)
KNOWN: dict[str, tuple[str, ...] | Callable[[], tuple[str, ...] | None]] = {
    "django.contrib.contenttypes.management.create_contenttypes": (
        "django_content_type",
    ),
    "django.contrib.auth.management.create_permissions": (
        "auth_permission",
        "django_content_type",
    ),
    # Django 6.1+: renames the permissions of renamed models
    "django.contrib.auth.management.rename_permissions_after_model_rename": (
        "auth_permission",
    ),
    "django.contrib.sites.management.create_default_site": ("django_site",),
    # django-guardian: empties its content type cache, writes nothing
    "guardian.shortcuts.clear_ct_cache": (),
    "guardian.management.create_anonymous_user": _user_table,
}


@dataclass(frozen=True)
class Writes:
    """The tables ``post_migrate`` receivers write, and the ones that may
    write anything (by name)."""

    tables: frozenset[str]
    unknown: tuple[str, ...]
    #: each table the setting declares, with the key that declares it: a
    #: table that does not exist is a typo (plan_scope makes the scope full)
    declared: tuple[tuple[str, str], ...] = ()


def receiver_name(receiver: Any) -> str:
    """``module.qualname`` of the code a receiver runs: the name :data:`KNOWN`
    and the setting use. A bound method is named by its function
    (``module.Class.method``), a ``functools.partial`` by the function it
    wraps, a callable instance by its class."""
    target = _target(receiver)
    return f"{getattr(target, '__module__', '?')}.{target.__qualname__}"


def _target(receiver: Any) -> Any:
    while isinstance(receiver, functools.partial):
        receiver = receiver.func
    if getattr(receiver, "__qualname__", None) is None:
        return type(receiver)  # a callable instance
    return receiver


def _attribute(receiver: Any) -> tuple[str, ...] | None:
    for holder in (receiver, _target(receiver)):
        declared = getattr(holder, WRITES_ATTRIBUTE, None)
        if isinstance(declared, list | tuple | set | frozenset):
            return tuple(str(table) for table in declared)
    return None


def setting_problems(value: Any) -> list[str]:
    """What is wrong with the setting's shape, one sentence each."""
    if not isinstance(value, dict):
        return [f"{SETTING_NAME} is {value!r}, not a dict."]
    problems = []
    for key, tables in value.items():
        if not _is_dotted(key):
            problems.append(
                f"{SETTING_NAME} has the key {key!r}, which is not a receiver's "
                "dotted module.qualname."
            )
        elif not (
            isinstance(tables, list | tuple)
            and all(isinstance(table, str) and table for table in tables)
        ):
            problems.append(
                f"{SETTING_NAME}[{key!r}] is {tables!r}, not a list of table names."
            )
    return problems


#: what to write instead of a bad setting
SETTING_HINT = (
    "Map each receiver's module.qualname to the tables it writes, e.g. "
    '{"thirdparty.signals.create_defaults": ["thirdparty_defaults"], '
    '"otherapp.handlers.noop": []} ([]: it writes nothing).'
)


def _is_dotted(key: Any) -> bool:
    if not isinstance(key, str) or key != key.strip() or " " in key:
        return False
    parts = key.split(".")
    return len(parts) >= 2 and all(parts)


def declared_by_setting() -> dict[str, tuple[str, ...]]:
    """The setting, checked: a bad one raises (``manage.py check`` reports it
    as migration_guard.E019) rather than scope a backup silently."""
    value = conf.POST_MIGRATE_WRITES
    problems = setting_problems(value)
    if problems:
        raise UsageError(" ".join([*problems, SETTING_HINT]))
    return {key: tuple(tables) for key, tables in value.items()}


def connected() -> list[tuple[str, Any]]:
    """The receivers ``migrate`` will call, each with its name: those the
    apps' management packages connect included (imported first, as
    ``migrate`` does only once the pre-run backup is taken)."""
    import_management_packages()
    return [(receiver_name(r), r) for r in signal_receivers(post_migrate)]


def known_to_code(name: str, receiver: Any) -> tuple[str, ...] | None:
    """The tables :data:`KNOWN` and the attribute say the receiver writes
    (None: neither knows)."""
    known, attribute = _known(name), _attribute(receiver)
    if known is None and attribute is None:
        return None
    return (*(known or ()), *(attribute or ()))


def post_migrate_writes() -> Writes:
    """What the receivers connected now write."""
    setting = declared_by_setting()
    tables: set[str] = set()
    unknown: list[str] = []
    declared: dict[tuple[str, str], None] = {}
    for name, receiver in connected():
        by_code = known_to_code(name, receiver)
        by_setting = setting.get(name)
        if by_code is None and by_setting is None:
            unknown.append(name)
            continue
        tables.update(by_code or ())
        tables.update(by_setting or ())
        declared.update(((table, name), None) for table in by_setting or ())
    return Writes(frozenset(tables), tuple(sorted(unknown)), tuple(declared))


def _known(name: str) -> tuple[str, ...] | None:
    entry = KNOWN.get(name)
    return entry() if callable(entry) else entry
