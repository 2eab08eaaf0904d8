"""Executing a plan: Django's own ``migrate`` code, and what it did (the journal).

``guardedmigrate`` runs ``migrate`` itself, handed the executor whose plan was
computed under the lock (:func:`django_migrate_uses`); a plan of several
per-app targets (a rollback) runs the executor as ``migrate`` would
(:func:`execute_plan`). Either way the :class:`Journal` notes each migration
done, with its timing, for the ledger.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.core.management.commands import migrate as django_migrate
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations import RunPython

from migration_guard.compat.management import raw_stream
from migration_guard.compat.migrations import applied_state
from migration_guard.run import ledger

if TYPE_CHECKING:
    from migration_guard.run.planning import Plan

ProgressCallback = Callable[..., None]


class Journal:
    """What the executor did, from its progress callback, with timings."""

    def __init__(self) -> None:
        self.executed: list[ledger.Entry] = []
        self.current: Migration | None = None
        #: what the ledger keeps about each faked migration's verification
        self.verifications: dict[tuple[str, str], dict[str, Any]] = {}
        self._to_checksum: list[tuple[ledger.Entry, Migration]] = []
        self._started = 0.0
        #: shows "migration n of N" before each one starts (a terminal only)
        self.announce: Callable[[int], None] | None = None
        self._starts = 0

    def add_checksums(self) -> None:
        """Store the checksum of each migration applied (or faked) this run.

        Done once the executor is finished rather than as each migration
        completes. The work is the same (0.12 s for 300 migrations), but
        done between migrations it cost 0.8 s of CPU on PostgreSQL
        (bench/apply.py: 1.15x migrate, now 1.02x); the likely cause is the
        garbage collector walking the executor's rendered states again,
        triggered by the checksums' allocations.
        """
        from migration_guard.gates.checksums import checksum

        for entry, migration in self._to_checksum:
            entry["checksum"] = checksum(migration).as_json()
        self._to_checksum.clear()

    def wrap(self, callback: ProgressCallback | None) -> ProgressCallback:
        def progress(
            action: str, migration: Migration | None = None, fake: bool = False
        ) -> None:
            self.record(action, migration, fake)
            if callback is not None:
                callback(action, migration, fake)

        return progress

    def record(self, action: str, migration: Migration | None, fake: bool) -> None:
        if action in ("apply_start", "unapply_start"):
            self.current = migration
            self._started = time.monotonic()
            self._starts += 1
            if self.announce is not None:
                self.announce(self._starts)
        elif action in ("apply_success", "unapply_success") and migration is not None:
            key = (migration.app_label, migration.name)
            self.executed.append(
                ledger.entry(
                    *key,
                    "applied" if action == "apply_success" else "unapplied",
                    fake=fake,
                    seconds=round(time.monotonic() - self._started, 6),
                    **(self.verifications.get(key, {}) if fake else {}),
                )
            )
            if action == "apply_success":
                self._to_checksum.append((self.executed[-1], migration))
            self.current = None


@contextlib.contextmanager
def django_migrate_uses(
    executor: MigrationExecutor, journal: Journal
) -> Iterator[None]:
    """Make Django's ``migrate`` command run with ``executor``.

    ``migrate`` builds its executor from a module-level name and offers no
    hook; swapping that name for the duration of the call (as django-syzygy
    does) reuses the loader built for the plan instead of loading the graph
    twice. The name is put back afterwards, so ``migrate`` itself is untouched.
    """

    def factory(
        connection: Any, progress_callback: ProgressCallback | None = None
    ) -> MigrationExecutor:
        executor.progress_callback = journal.wrap(progress_callback)
        return executor

    original = django_migrate.MigrationExecutor  # type: ignore[attr-defined]
    django_migrate.MigrationExecutor = factory  # type: ignore[attr-defined]
    try:
        yield
    finally:
        django_migrate.MigrationExecutor = original  # type: ignore[attr-defined]


def rolled_back_cleanly(migration: Migration, alias: str) -> bool:
    """Whether the database undid everything ``migration`` did when it failed."""
    if not migration.atomic:
        return False
    if connections[alias].features.can_rollback_ddl:
        return True
    return all(isinstance(op, RunPython) for op in migration.operations)


def execute_plan(
    plan: Plan, journal: Journal, *, verbosity: int, interactive: bool, stdout: Any
) -> None:
    """Run a plan of several targets as ``migrate`` runs one target.

    ``migrate`` takes a single target, so a rollback to per-app targets runs
    the executor itself, with migrate's progress output and its signals.
    """
    from django.core.management.sql import (
        emit_post_migrate_signal,
        emit_pre_migrate_signal,
    )

    raw = raw_stream(stdout)  # migrate's own wrapper adds newlines
    printer = django_migrate.Command(stdout=raw, no_color=True)
    printer.verbosity = verbosity
    executor = plan.executor
    executor.progress_callback = journal.wrap(printer.migration_progress_callback)
    alias = executor.connection.alias
    pre_state = applied_state(executor)
    emit_pre_migrate_signal(
        verbosity,
        interactive,
        alias,
        stdout=stdout,
        apps=pre_state.apps,
        plan=plan.django_plan,
    )
    post_state = executor.migrate(
        plan.resolution.targets, plan=plan.django_plan, state=pre_state.clone()
    )
    post_state.clear_delayed_apps_cache()
    emit_post_migrate_signal(
        verbosity,
        interactive,
        alias,
        stdout=stdout,
        apps=post_state.apps,
        plan=plan.django_plan,
    )
