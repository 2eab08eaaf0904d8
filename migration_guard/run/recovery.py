"""Crash recovery: runs left ``running`` by a process that is gone.

Each run records its process in the ledger (``runtime``: pid and a token, the
boot id and the process's start time, so a reused pid is not taken for the
run). Under the migration lock, a new run looks for earlier runs still
``running``:

- on this host, the process is alive only if the pid exists *and* has the
  same token; otherwise the run is dead;
- on another host, PostgreSQL and MySQL runs are dead: they would hold the
  server-side lock this run holds now. A SQLite run of another host (a
  database on a shared disk) is not decided: it is reported, left as is.

A dead run is marked ``interrupted``. When the migration it was running could
not be rolled back by the database (MySQL/MariaDB DDL, a non-atomic
migration), the database may be half-migrated: the next run stops before
doing anything (:class:`RecoveryRequired`, exit 7) and names the pre-run
backup and the command that restores it (``rollback --run N --strategy
restore``), unless ``AUTO_RESTORE`` is ``always``, when it restores it itself.
``rollback --run N --mark-resolved`` acknowledges without restoring.

An unfinished restore leaves a marker table (:mod:`.markers`): runs refuse
(exit 7) until the restore is done again. An interrupted run on several
databases is recovered as one (:mod:`.groups`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Q
from django.utils import timezone

from migration_guard.backup.base import BackupError, Progress
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import RecoveryRequired
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import markers

Say = Callable[[str, str], None]


def process_token(pid: int) -> str:
    """The boot id and start time (clock ticks) of process ``pid``; "" if unknown."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else ""


def is_alive(run: MigrationRun) -> bool | None:
    """Whether the process of ``run`` still runs; None when this host cannot tell."""
    runtime = run.runtime or {}
    pid, token = runtime.get("pid"), runtime.get("token")
    if run.host != socket.gethostname():
        return False if run.vendor in ("postgresql", "mysql") else None
    if not isinstance(pid, int):
        return False  # written by a version that did not record it: long gone
    if token:
        return bool(process_token(pid) == token)
    try:  # no /proc: the pid alone (may be reused)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def step_label(step: dict[str, Any]) -> str:
    return f"{step['app']}.{step['name']}"


def unfinished_step(run: MigrationRun, alias: str) -> dict[str, Any] | None:
    """The step of ``run``'s plan it was executing when it died, if any.

    The first step neither recorded as executed in the ledger nor done in
    ``django_migrations`` (a migration's row is written before the ledger's).
    A run that died before its backup was recorded never started executing.
    """
    if not run.plan or (not run.backup_id and not run.backup_note):
        return None
    executed = {step_label(entry) for entry in run.executed}
    applied = {
        f"{app}.{name}"
        for app, name in MigrationRecorder(connections[run.alias]).applied_migrations()
    }
    for step in run.plan:
        label = step_label(step)
        if label in executed:
            continue
        if (label in applied) != bool(step.get("backwards")):
            continue  # done, the ledger was not told
        return dict(step)
    return None


def could_roll_back(alias: str, step: dict[str, Any]) -> bool:
    from migration_guard.run.execution import rolled_back_cleanly

    loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    migration = loader.disk_migrations.get((step["app"], step["name"]))
    if migration is None:
        return False  # the code changed since: assume the worst
    return rolled_back_cleanly(migration, alias)


def mark_interrupted(run: MigrationRun, alias: str) -> MigrationRun:
    step = unfinished_step(run, alias) if run.direction != "none" else None
    needs_restore = step is not None and not could_roll_back(alias, step)
    runtime = dict(run.runtime or {})
    runtime.update(
        needs_restore=needs_restore,
        in_progress=step_label(step) if step else "",
        killed=True,  # found dead, not ended by a signal it handled
    )
    found = (
        f"The process of this run (pid {runtime.get('pid', '?')} on host "
        f"'{run.host}') ended without recording the end of the run; found by "
        f"pid {os.getpid()} on '{socket.gethostname()}' at "
        f"{timezone.now():%Y-%m-%d %H:%M:%S}."
    )
    run.outcome = Outcome.INTERRUPTED
    run.error = "\n".join(filter(None, [run.error, found]))
    run.finished_at = timezone.now()
    run.runtime = runtime
    # through ``alias``: the run may have been recorded under another alias name
    MigrationRun.objects.using(alias).filter(pk=run.pk).update(
        outcome=run.outcome,
        error=run.error,
        finished_at=run.finished_at,
        runtime=runtime,
    )
    return run


@dataclass
class Pending:
    """An interrupted run whose database needs a restore (or an acknowledgement)."""

    run: MigrationRun

    def message(self, alias: str) -> str:
        run = self.run
        step = run.runtime.get("in_progress") or "a migration"
        vendor = connections[alias].vendor
        text = (
            f"Run {run.pk} on database '{alias}' was interrupted while {step} was "
            f"being {'unapplied' if run.direction == 'backwards' else 'applied'}, "
            f"and {vendor} could not roll it back: the database may be "
            "half-migrated. Nothing was done."
        )
        if run.backup_id:
            return (
                f"{text} Its pre-run backup is {run.backup_id}. Bring the database "
                f"back to its state before run {run.pk} with: manage.py rollback "
                f"--run {run.pk} --strategy restore --database {alias} (or set "
                "MIGRATION_GUARD['AUTO_RESTORE'] = 'always' to let guardedmigrate do "
                "it). "
                "If you repaired the schema yourself instead: manage.py rollback "
                f"--run {run.pk} --mark-resolved --database {alias}"
            )
        why = run.backup_note.removeprefix("skipped: ") or "none was taken"
        return (
            f"{text} No backup of that run exists ({why}). Repair the schema by "
            f"hand, then record it: manage.py rollback --run {run.pk} "
            f"--mark-resolved --database {alias}"
        )


def pending_restores(
    alias: str, runs: Iterable[MigrationRun] | None = None
) -> list[Pending]:
    """Interrupted runs that left the database half-done and are not resolved.

    ``runs``: the ledger's runs to look at (default: read the interrupted ones).
    """
    if runs is None:
        runs = MigrationRun.objects.using(alias).filter(outcome=Outcome.INTERRUPTED)
    return [
        Pending(run)
        for run in sorted(runs, key=lambda run: run.pk)
        if run.outcome == Outcome.INTERRUPTED
        and (run.runtime or {}).get("needs_restore")
        and not (run.runtime or {}).get("resolved")
    ]


def find_dead_runs(
    alias: str, say: Say, runs: Iterable[MigrationRun] | None = None
) -> None:
    """Mark the dead ``running`` runs of ``alias``'s database ``interrupted``.

    ``runs``: the ledger's runs to look at (default: read the running ones).
    """
    if runs is None:
        runs = MigrationRun.objects.using(alias).filter(outcome=Outcome.RUNNING)
    for run in runs:
        if run.outcome != Outcome.RUNNING:
            continue
        alive = is_alive(run)
        if alive is False:
            mark_interrupted(run, alias)
            say(
                "WARNING",
                f"Run {run.pk} ({run.command}, started {run.started_at:%Y-%m-%d %H:%M}"
                ") was interrupted: its process is gone. The ledger now says so.",
            )
        elif alive is None:
            say(
                "WARNING",
                f"Run {run.pk} on host '{run.host}' is still recorded as running; "
                "this host cannot tell whether it is. If it is not, record that "
                f"with: manage.py rollback --run {run.pk} --mark-resolved",
            )


def settled_run(alias: str, pk: int, lock_timeout: float) -> MigrationRun:
    """Run ``pk`` of ``alias``'s ledger; one still recorded running is first
    checked under the migration lock, and marked interrupted if it is dead."""
    from migration_guard.run import ledger
    from migration_guard.run.locking import migration_lock

    run = ledger.find_run(alias, pk)
    if run.outcome == Outcome.RUNNING:
        with migration_lock(alias, lock_timeout):
            find_dead_runs(alias, lambda style, text: None)
        run.refresh_from_db(using=alias)
    return run


def resolve(run: MigrationRun, how: str, alias: str) -> None:
    """Record on ``run`` (in the ledger of ``alias``) how its interruption ended."""
    runtime = dict(run.runtime or {})
    runtime["resolved"] = how
    MigrationRun.objects.using(alias).filter(pk=run.pk).update(runtime=runtime)
    run.runtime = runtime


def recover(alias: str, say: Say, held: Collection[str] = ()) -> bool:
    """Before anything: what earlier runs killed on this database left behind;
    whether a database was restored here (the plan shown before may be stale).

    Stale ``.partial`` files of dead runs are removed; a restore that did not
    finish, or an interrupted run that left the database half-migrated, stops
    the run (exit 7) with the command that brings the database back, unless
    ``AUTO_RESTORE`` is ``always``: then the pre-run backup of that run is
    restored here (and the run goes on). An interrupted run on several
    databases is recovered as one (:func:`recover_group`); ``held``: the
    databases whose migration lock the caller holds (``alias`` always).
    """
    from migration_guard.backup.storage import get_store

    with contextlib.suppress(OSError, BackupError):
        get_store().remove_stale_partials()
    # first: a killed load may have dropped the ledger table with the rest
    # one listing of the tables and one read of the ledger: every deploy pays it
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    markers.refuse_unfinished_restore(alias, tables)
    if MigrationRun._meta.db_table not in tables:
        return False
    # only what can need recovery, however long the history of interrupted runs
    runs = list(
        MigrationRun.objects.using(alias).filter(
            Q(outcome=Outcome.RUNNING)
            | (
                (
                    Q(outcome=Outcome.INTERRUPTED, runtime__needs_restore=True)
                    | Q(
                        outcome=Outcome.INTERRUPTED,
                        runtime__killed=True,
                        runtime__has_key="group",
                    )
                )
                & ~Q(runtime__has_key="resolved")
            )
        )
    )
    find_dead_runs(alias, say, runs)
    from migration_guard.run.groups import in_group, recover_group

    killed_groups = [run for run in runs if in_group(run)]
    restored = False
    for run in killed_groups:
        restored = recover_group(alias, run, say, held=held) or restored
    alone = [run for run in runs if run not in killed_groups]
    for pending in pending_restores(alias, alone):
        if conf.AUTO_RESTORE != "always" or not pending.run.backup_id:
            raise RecoveryRequired(pending.message(alias))
        restore_interrupted(alias, pending.run, say=say, locked=True)
        restored = True
    return restored


def restore_interrupted(
    alias: str,
    run_row: MigrationRun,
    *,
    say: Say,
    locked: bool,
    lock_timeout: float | None = None,
    argv: list[str] | None = None,
    command: str = "guardedmigrate",
    progress: Callable[[str], Progress | None] = lambda label: None,
) -> Any:
    """Restore the pre-run backup of interrupted run ``run_row``; resolve it."""
    from migration_guard.backup import guarded
    from migration_guard.backup.catalog import find
    from migration_guard.backup.storage import get_store

    manifest = find(run_row.backup_id)
    store = get_store()
    guarded.check(manifest, alias, store)
    say(
        "MIGRATE_HEADING",
        f"Run {run_row.pk} was interrupted half-way; restoring its pre-run "
        f"backup {manifest.id}:",
    )
    done = guarded.restore(
        alias,
        manifest,
        store=store,
        lock_timeout=float(conf.LOCK_TIMEOUT if lock_timeout is None else lock_timeout),
        command=command,
        argv=argv if argv is not None else list(sys.argv),
        say=say,
        progress=progress,
        locked=locked,
    )
    resolve(run_row, f"restored from {manifest.id} by run {done.run.pk}", alias)
    return done
