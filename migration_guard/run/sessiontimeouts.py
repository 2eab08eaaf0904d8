"""Setting a migration's lock and statement timeouts on its connection.

:func:`timeouts` runs a block with a :class:`~.locktimeouts.LockWaits`
policy's timeouts, each backend its own way, and puts the previous values
back afterwards:

- PostgreSQL: ``lock_timeout`` and ``statement_timeout``, ``SET LOCAL``
  inside a transaction around an atomic migration (the schema editor's own
  transaction becomes a savepoint of it), session settings around a
  non-atomic one;
- MySQL/MariaDB: the session's ``lock_wait_timeout`` and
  ``innodb_lock_wait_timeout`` (whole seconds), MariaDB's
  ``max_statement_time``;
- SQLite: the busy timeout; it has no statement timeout.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    from migration_guard.run.locktimeouts import LockWaits


def _mysql_seconds(value: float) -> int:
    return max(1, math.ceil(value))  # MariaDB/MySQL take whole seconds only


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def statement_timeout_supported(connection: BaseDatabaseWrapper) -> bool:
    """Whether the backend can cancel a statement that runs too long."""
    if connection.vendor == "mysql":
        return bool(connection.mysql_is_mariadb)  # type: ignore[attr-defined]
    return connection.vendor == "postgresql"


def timeouts(
    connection: BaseDatabaseWrapper, policy: LockWaits, atomic: bool
) -> contextlib.AbstractContextManager[None]:
    """Run the block with ``policy``'s timeouts on ``connection``."""
    if connection.vendor == "postgresql":
        return _postgresql(connection, policy, atomic)
    if connection.vendor == "mysql":
        return _mysql(connection, policy)
    if connection.vendor == "sqlite" and policy.timeout:
        return _sqlite(connection, policy.timeout)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _postgresql(
    connection: BaseDatabaseWrapper, policy: LockWaits, atomic: bool
) -> Iterator[None]:
    values = {}
    if policy.timeout:
        values["lock_timeout"] = _ms(policy.timeout)
    if policy.statement_timeout:
        values["statement_timeout"] = _ms(policy.statement_timeout)
    if not atomic:
        with _session(
            connection,
            values,
            read="SELECT current_setting(%s)",
            write="SELECT set_config(%s, %s, false)",
        ):
            yield
        return
    with transaction.atomic(using=connection.alias):
        if values:  # one round trip, whatever is set
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(values)),
                    [item for pair in values.items() for item in pair],
                )
        yield


def _mysql(
    connection: BaseDatabaseWrapper, policy: LockWaits
) -> contextlib.AbstractContextManager[None]:
    values: dict[str, Any] = {}
    if policy.timeout:
        seconds = _mysql_seconds(policy.timeout)
        values = {"lock_wait_timeout": seconds, "innodb_lock_wait_timeout": seconds}
    if policy.statement_timeout and statement_timeout_supported(connection):
        values["max_statement_time"] = float(policy.statement_timeout)
    return _mysql_session(connection, values)


@contextlib.contextmanager
def _sqlite(connection: BaseDatabaseWrapper, timeout: float) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        previous = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA busy_timeout = {round(timeout * 1000)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {previous}")


@contextlib.contextmanager
def _session(
    connection: BaseDatabaseWrapper, values: dict[str, str], *, read: str, write: str
) -> Iterator[None]:
    previous = {}
    with connection.cursor() as cursor:
        for name, value in values.items():
            cursor.execute(read, [name])
            previous[name] = cursor.fetchone()[0]
            cursor.execute(write, [name, value])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in previous.items():
                cursor.execute(write, [name, value])


@contextlib.contextmanager
def _mysql_session(
    connection: BaseDatabaseWrapper, values: dict[str, Any]
) -> Iterator[None]:
    if not values:
        yield
        return
    names = list(values)  # fixed names from this module, never user input
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"@@SESSION.{n}" for n in names))
        previous = dict(zip(names, cursor.fetchone(), strict=True))
        cursor.execute(
            "SET " + ", ".join(f"SESSION {n} = %s" for n in names),
            [values[n] for n in names],
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SET " + ", ".join(f"SESSION {n} = %s" for n in names),
                [previous[n] for n in names],
            )
