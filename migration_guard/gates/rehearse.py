"""``guardedmigrate --rehearse``: the deploy, and its rollback, on a copy first.

The database behind the alias is backed up (a fresh, verified backup in a
temporary directory, never added to the catalogue) and restored into a
scratch database on the same server (:mod:`migration_guard.testing.scratch`). There the
pending plan runs with per-migration timings, the revert preview is built for
the way back, and the revert runs; the schema after the revert is compared
with the schema of the copy before the plan. The copy is dropped at the end.

Nothing is written to the real database: no lock, no ledger row, no
``django_migrations`` row. That is checked: its ``django_migrations`` rows,
its ledger and its schema are read before and after, and a difference fails
the rehearsal.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration

from migration_guard.exceptions import CheckFailed, UsageError
from migration_guard.gates.roundtrip import SchemaChange, schema_changes
from migration_guard.management.render import human_size
from migration_guard.reconcile.schema import flatten
from migration_guard.reconcile.schema.introspect import snapshot
from migration_guard.run import ledger, planning
from migration_guard.run.execution import Journal, execute_plan
from migration_guard.run.planning import Key, Plan, TargetSpec

Say = Callable[[str, str], None]


def _quiet(style: str, text: str) -> None:
    """Says nothing (``--format json``)."""


@dataclass
class Fingerprint:
    """What must not change on the real database: rows and schema."""

    migrations: list[tuple[Any, ...]]
    ledger: list[tuple[Any, ...]]
    schema: dict[Any, Any]

    def differences(self, other: Fingerprint) -> list[str]:
        found = []
        if self.migrations != other.migrations:
            found.append(
                f"django_migrations: {len(self.migrations)} rows before, "
                f"{len(other.migrations)} after, or their content differs"
            )
        if self.ledger != other.ledger:
            found.append(
                f"ledger: {len(self.ledger)} rows before, {len(other.ledger)} "
                "after, or their content differs"
            )
        if self.schema != other.schema:
            keys = {k for k in self.schema.keys() ^ other.schema.keys()}
            keys |= {
                k
                for k in self.schema.keys() & other.schema.keys()
                if self.schema[k] != other.schema[k]
            }
            found.append(f"schema: {len(keys)} elements differ")
        return found


def fingerprint(alias: str) -> Fingerprint:
    """Every ``django_migrations`` row, every ledger row, and the schema."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        migrations: list[tuple[Any, ...]] = []
        if "django_migrations" in tables:
            cursor.execute(
                "SELECT id, app, name, applied FROM django_migrations ORDER BY id"
            )
            migrations = [tuple(row) for row in cursor.fetchall()]
    rows: list[tuple[Any, ...]] = []
    if ledger.has_table(alias):
        from migration_guard.models import MigrationRun

        rows = [
            tuple(sorted(row.items()))
            for row in MigrationRun.objects.using(alias).order_by("id").values()
        ]
    return Fingerprint(migrations, rows, flatten(snapshot(connection)))


@dataclass
class Rehearsal:
    alias: str
    vendor: str
    spec: TargetSpec
    where: str = ""
    direction: str = "none"
    plan: list[dict[str, Any]] = field(default_factory=list)
    backup_size: int = 0
    backup_seconds: float = 0.0
    restore_seconds: float = 0.0
    executed: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    failed_migration: str = ""
    #: the plan was not run: guardedmigrate would refuse it (irreversible way back)
    refused: bool = False
    #: the revert preview (render.preview_document), None when nothing ran
    preview: dict[str, Any] | None = None
    #: "done", "irreversible", "failed", "not run"
    revert_status: str = "not run"
    revert_note: str = ""
    reverted: list[dict[str, Any]] = field(default_factory=list)
    revert_error: str = ""
    revert_changes: list[SchemaChange] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: per migration of the plan, the locks measured (see lockwatch)
    locks: list[Any] | None = None
    locks_note: str = ""
    #: ``--max-lock-ms``, and the blocking locks held longer than it
    max_lock_ms: float | None = None
    over_budget: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        if not self.plan:
            return True
        if self.over_budget:
            return False
        return not self.error and self.revert_status in ("done", "irreversible")

    @property
    def outcome(self) -> str:
        if not self.plan:
            return "noop"
        return "success" if self.ok else "failed"

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.alias,
            "vendor": self.vendor,
            "rehearsal": True,
            "outcome": self.outcome,
            "copy": self.where,
            "backup": {
                "size": self.backup_size,
                "seconds": round(self.backup_seconds, 6),
                "restore_seconds": round(self.restore_seconds, 6),
            },
            "direction": self.direction,
            "plan": self.plan,
            "executed": self.executed,
            "apply_seconds": round(sum(e["seconds"] for e in self.executed), 6),
            "error": self.error or None,
            "failed_migration": self.failed_migration or None,
            "refused": self.refused,
            "revert": {
                "status": self.revert_status,
                "note": self.revert_note or None,
                "preview": self.preview,
                "executed": self.reverted,
                "seconds": round(sum(e["seconds"] for e in self.reverted), 6),
                "error": self.revert_error or None,
                "differences": [c.as_json() for c in self.revert_changes],
            },
            "locks": None
            if self.locks is None
            else [item.as_json() for item in self.locks],
            "locks_note": self.locks_note or None,
            "max_lock_ms": self.max_lock_ms,
            "over_budget": self.over_budget,
            "database_unchanged": self.untouched,
            "seconds": round(self.seconds, 6),
        }


class _Timed(Journal):
    """A journal that says each migration with its time as it finishes."""

    def __init__(self, say: Say, watch: Any = None) -> None:
        super().__init__()
        self.say = say
        self.watch = watch

    def record(self, action: str, migration: Migration | None, fake: bool) -> None:
        super().record(action, migration, fake)
        if self.watch is not None and migration is not None:
            if action == "apply_start":
                self.watch.started(f"{migration.app_label}.{migration.name}")
            elif action == "apply_success":
                self.watch.finished()
        if action in ("apply_success", "unapply_success") and migration is not None:
            verb = "Applying" if action == "apply_success" else "Unapplying"
            seconds = self.executed[-1]["seconds"]
            self.say(
                "MIGRATE_LABEL",
                f"  {verb} {migration.app_label}.{migration.name}... OK "
                f"({seconds:.3f}s)",
            )


def _timings(journal: Journal) -> list[dict[str, Any]]:
    """What the journal recorded, without the checksums the ledger keeps."""
    return [
        {key: value for key, value in entry.items() if key != "checksum"}
        for entry in journal.executed
    ]


def _latest(loader: Any, applied: set[Key], app: str) -> planning.Target:
    """The latest migration of ``app`` in ``applied``, or zero."""
    mine = {key for key in applied if key[0] == app and key in loader.graph.nodes}
    for key in sorted(mine, reverse=True):
        if not any(child in mine for child in loader.graph.node_map[key].children):
            return key
    return (app, None)


def _run(plan: Plan, journal: Journal) -> str:
    """Execute ``plan``; the error as text ("" when it went through)."""
    try:
        execute_plan(plan, journal, verbosity=0, interactive=False, stdout=_Sink())
    except Exception as exc:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return ""


class _Sink:
    """A stdout for migrate's printer and the signals: discards everything."""

    def write(self, text: str, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass


def rehearse(
    alias: str,
    spec: TargetSpec,
    *,
    say: Say = _quiet,
    show_preview: Callable[[Any], None] | None = None,
    max_lock_ms: float | None = None,
) -> Rehearsal:
    """Rehearse the plan of ``spec`` on a copy of ``alias``; see the module doc."""
    from migration_guard.backup.base import BackupError
    from migration_guard.backup.catalog import create_backup, restore_backup
    from migration_guard.backup.storage import LocalStore
    from migration_guard.exceptions import BackupFailed
    from migration_guard.testing.scratch import scratch_database

    started = time.monotonic()
    real_plan = planning.build_plan(alias, spec)  # read-only: no lock, no ledger
    result = Rehearsal(alias, connections[alias].vendor, spec)
    result.max_lock_ms = max_lock_ms
    result.direction = real_plan.direction
    result.plan = [step.as_json() for step in real_plan.steps]
    if not real_plan.steps:
        say("MIGRATE_LABEL", f"No migrations to rehearse on database '{alias}'.")
        result.seconds = time.monotonic() - started
        return result
    before = fingerprint(alias)
    with (
        tempfile.TemporaryDirectory(prefix="migration-guard-rehearsal-") as directory,
        scratch_database(alias, purpose="rehearsal") as scratch,
    ):
        result.where = scratch.describe()
        say("MIGRATE_HEADING", f"Copying database '{alias}' to {result.where}:")
        store = LocalStore(Path(directory))
        try:
            manifest = create_backup(alias, reason="rehearsal", store=store)
        except BackupError as exc:
            raise BackupFailed(
                f"The backup of database '{alias}' for the rehearsal failed: {exc}"
            ) from exc
        result.backup_size, result.backup_seconds = manifest.size, manifest.seconds
        clock = time.monotonic()
        restore_backup(
            scratch.alias, manifest, store=store, no_owner=True, no_privileges=True
        )
        result.restore_seconds = time.monotonic() - clock
        say(
            "MIGRATE_LABEL",
            f"  backup {human_size(manifest.size)}, sha256 verified "
            f"({manifest.seconds:.2f}s); restored into the copy "
            f"({result.restore_seconds:.2f}s)",
        )
        _on_copy(scratch, spec, real_plan, result, say, show_preview)
    result.seconds = time.monotonic() - started
    return _finish(result, alias, before, say)


def _on_copy(
    scratch: Any,
    spec: TargetSpec,
    real_plan: Plan,
    result: Rehearsal,
    say: Say,
    show_preview: Callable[[Any], None] | None,
) -> None:
    """The plan, the revert preview and the revert, on the copy."""
    copy_before = snapshot(scratch.connection)
    executor = MigrationExecutor(scratch.connection)
    plan = planning.plan_for(executor, planning.resolve_targets(executor.loader, spec))
    if plan.keys() != real_plan.keys():
        raise UsageError(
            "The plan on the copy differs from the plan on the database "
            "(another run migrated it meanwhile); run the rehearsal again."
        )
    applied_before = set(plan.loader.applied_migrations)
    apps = sorted({step.key[0] for step in plan.steps})
    if plan.direction == "backwards":  # the plan is the way back: preview it
        _preview(plan, result, show_preview)
        if result.revert_status == "irreversible":
            _refused(result)
            return
    say(
        "MIGRATE_HEADING",
        f"Running the plan on the copy ({len(plan.steps)} migration"
        f"{'s' if len(plan.steps) != 1 else ''}):",
    )
    journal = _Timed(say)
    _run_watched(scratch, plan, journal, result, say)
    result.executed = _timings(journal)
    if result.error:
        current = journal.current
        if current is not None:
            result.failed_migration = f"{current.app_label}.{current.name}"
        say("ERROR", f"  Failed: {result.failed_migration} {result.error}")
        return
    executor = MigrationExecutor(scratch.connection)
    targets = [_latest(executor.loader, applied_before, app) for app in apps]
    back = planning.plan_for(
        executor, planning.Resolution(targets, app_labels_only=False)
    )
    if plan.direction == "forwards":
        _preview(back, result, show_preview)
    if result.revert_status != "irreversible":
        _revert(scratch, back, copy_before, result, say)


def _refused(result: Rehearsal) -> None:
    """A backward plan that cannot be unapplied: guardedmigrate refuses it."""
    irreversible = result.preview["irreversible"] if result.preview else []
    result.failed_migration = ", ".join(irreversible)
    result.error = (
        "cannot be unapplied (irreversible); guardedmigrate refuses this "
        "plan (exit 8) and only a restore goes back"
    )
    result.revert_status, result.revert_note = "not run", ""
    result.refused = True


def _revert(
    scratch: Any, back: Plan, copy_before: Any, result: Rehearsal, say: Say
) -> None:
    """Run the way back on the copy; its schema must be as before the plan."""
    say("MIGRATE_HEADING", "Reverting on the copy:")
    journal = _Timed(say)
    result.revert_error = _run(back, journal)
    result.reverted = _timings(journal)
    if result.revert_error:
        result.revert_status = "failed"
        say("ERROR", f"  Failed: {result.revert_error}")
        return
    result.revert_changes = schema_changes(copy_before, snapshot(scratch.connection))
    result.revert_status = "failed" if result.revert_changes else "done"
    if result.revert_changes:
        result.revert_error = "the revert does not restore the schema: " + "; ".join(
            str(c) for c in result.revert_changes
        )
        say("ERROR", f"  {result.revert_error}")
    else:
        say("MIGRATE_LABEL", "  Schema of the copy: as before the plan.")


def _run_watched(
    scratch: Any, plan: Plan, journal: Any, result: Rehearsal, say: Say
) -> None:
    """Run the plan with its locks measured (lockwatch)."""
    from migration_guard.gates.lockwatch import watcher_for

    watch = watcher_for(scratch.connection) if plan.direction == "forwards" else None
    if watch is None:
        result.locks_note = (
            "locks are measured for forward plans only"
            if plan.direction != "forwards"
            else "locks are not measured on this backend"
        )
        result.error = _run(plan, journal)
        return
    with watch:
        journal.watch = watch
        result.error = _run(plan, journal)
        journal.watch = None
    result.locks = watch.migrations
    result.locks_note = watch.error or watch.caveat
    say("MIGRATE_HEADING", f"Locks ({watch.method}):")
    for item in watch.migrations:
        say("MIGRATE_LABEL", f"  {item.describe()}")
    if result.max_lock_ms is not None:
        result.over_budget = [
            f"{label} held {lock.mode} on {lock.table} for {lock.ms:.0f} ms"
            for label, lock in watch.over_budget(result.max_lock_ms)
        ]


def _preview(plan: Plan, result: Rehearsal, show: Callable[[Any], None] | None) -> None:
    """Build the revert preview of ``plan`` (on the copy); mark irreversible."""
    from migration_guard.management import render
    from migration_guard.rollback.preview import build_preview, choose_strategy

    preview = build_preview(plan)
    strategy = choose_strategy(preview, [])
    result.preview = render.preview_document(preview, strategy, None)
    result.preview["database"] = result.alias  # the copy's alias is temporary
    if show is not None:
        show((preview, strategy))
    if preview.irreversible:
        result.revert_status = "irreversible"
        names = ", ".join(m.label for m in preview.irreversible)
        result.revert_note = (
            f"not rehearsed: {names} cannot be unapplied; rolling this deploy "
            "back needs a restore of the backup guardedmigrate takes before it "
            "('rollback --last' does that)"
        )


def _finish(result: Rehearsal, alias: str, before: Fingerprint, say: Say) -> Rehearsal:
    """Check that the real database is exactly as it was."""
    after = fingerprint(alias)
    problems = before.differences(after)
    if problems:
        raise CheckFailed(
            f"The rehearsal changed database '{alias}', which it must never do: "
            + "; ".join(problems)
            + ". Please report this as a bug of migration_guard."
        )
    result.untouched = [
        f"django_migrations: {len(after.migrations)} rows",
        f"ledger: {len(after.ledger)} row{'s' if len(after.ledger) != 1 else ''}",
        f"schema: {len({k[1] for k in after.schema})} tables",
    ]
    return result


def failure(result: Rehearsal) -> CheckFailed | None:
    """The error a rehearsal that failed ends the command with (exit 2)."""
    alias = result.alias
    if result.over_budget:
        return CheckFailed(
            f"Rehearsal of database '{alias}' failed: "
            + "; ".join(result.over_budget)
            + f", over --max-lock-ms {result.max_lock_ms:g}. Database '{alias}' "
            "was not changed."
        )
    if result.ok:
        return None
    failed = result.failed_migration or "the plan"
    what = (
        f"{failed} {result.error}"
        if result.refused
        else f"{failed} failed on the copy: {result.error}"
        if result.error
        else f"the revert failed on the copy: {result.revert_error}"
    )
    return CheckFailed(
        f"Rehearsal of database '{alias}' failed: {what}. Database "
        f"'{alias}' was not changed."
    )
