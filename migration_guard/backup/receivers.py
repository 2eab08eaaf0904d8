"""What ``post_migrate`` receivers write after every run.

``migrate`` sends ``post_migrate`` once the plan has run; its receivers write
tables the plan's operations do not name. A plan-scoped backup must hold
them, so each receiver must be known: Django's own (content types,
permissions, the default site), receivers that write nothing, and any
function with a ``migration_guard_writes`` attribute (table names). Another
receiver may write anything: the backup is then of the whole database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models.signals import post_migrate

from migration_guard.compat.management import signal_receivers

#: the attribute on a receiver function that declares the tables it writes
WRITES_ATTRIBUTE = "migration_guard_writes"


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


def post_migrate_writes() -> Writes:
    """What the receivers connected now write."""
    tables: set[str] = set()
    unknown: list[str] = []
    for receiver in signal_receivers(post_migrate):
        name = f"{getattr(receiver, '__module__', '?')}." + str(
            getattr(receiver, "__qualname__", receiver)
        )
        declared = getattr(receiver, WRITES_ATTRIBUTE, None)
        known = _known(name)
        if known is not None:
            tables.update(known)
        elif isinstance(declared, list | tuple | set | frozenset):
            tables.update(str(table) for table in declared)
        else:
            unknown.append(name)
    return Writes(frozenset(tables), tuple(sorted(unknown)))


def _known(name: str) -> tuple[str, ...] | None:
    entry = KNOWN.get(name)
    return entry() if callable(entry) else entry
