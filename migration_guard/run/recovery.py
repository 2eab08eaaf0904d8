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

An unfinished restore leaves a marker table (:data:`MARKER_TABLE`): the load
of a MySQL dump is not atomic, so a killed restore leaves part of the backup.
Runs refuse (exit 7) until the restore is done again, or replaced by one that
writes at least as much (:func:`check_covers_unfinished`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Q
from django.utils import timezone

from migration_guard.backup.base import RESTORE_MARKER_TABLE, BackupError, Progress
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import (
    MigrationGuardError,
    RecoveryRequired,
    RestoreFailed,
)
from migration_guard.models import MigrationRun, Outcome

if TYPE_CHECKING:
    from migration_guard.backup.storage import BackupStore, Manifest

MARKER_TABLE = RESTORE_MARKER_TABLE
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


def _label(step: dict[str, Any]) -> str:
    return f"{step['app']}.{step['name']}"


def unfinished_step(run: MigrationRun, alias: str) -> dict[str, Any] | None:
    """The step of ``run``'s plan it was executing when it died, if any.

    The first step neither recorded as executed in the ledger nor done in
    ``django_migrations`` (a migration's row is written before the ledger's).
    A run that died before its backup was recorded never started executing.
    """
    if not run.plan or (not run.backup_id and not run.backup_note):
        return None
    executed = {_label(entry) for entry in run.executed}
    applied = {
        f"{app}.{name}"
        for app, name in MigrationRecorder(connections[run.alias]).applied_migrations()
    }
    for step in run.plan:
        label = _label(step)
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
        in_progress=_label(step) if step else "",
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


def resolve(run: MigrationRun, how: str, alias: str) -> None:
    """Record on ``run`` (in the ledger of ``alias``) how its interruption ended."""
    runtime = dict(run.runtime or {})
    runtime["resolved"] = how
    MigrationRun.objects.using(alias).filter(pk=run.pk).update(runtime=runtime)
    run.runtime = runtime


def unfinished_restore(
    alias: str, tables: Collection[str] | None = None
) -> dict[str, Any] | None:
    """The marker of a restore that did not finish, or None.

    ``tables``: the database's tables, when the caller has listed them.
    """
    connection = connections[alias]
    with connection.cursor() as cursor:
        if tables is None:
            tables = connection.introspection.table_names(cursor)
        if MARKER_TABLE not in tables:
            return None
        table = connection.ops.quote_name(MARKER_TABLE)
        cursor.execute(f"SELECT backup_id, started_at FROM {table}")
        row = cursor.fetchone()
    return {"backup_id": row[0] if row else "", "started_at": row[1] if row else ""}


def _unfinished(alias: str, marker: dict[str, Any]) -> str:
    return (
        f"A restore of backup {marker['backup_id'] or '(unknown)'} into database "
        f"'{alias}', started {marker['started_at']}, did not finish: the database "
        "holds only part of that backup."
    )


def refuse_unfinished_restore(
    alias: str, tables: Collection[str] | None = None
) -> None:
    marker = unfinished_restore(alias, tables)
    if marker is None:
        return
    backup = marker["backup_id"]
    raise RecoveryRequired(
        f"{_unfinished(alias, marker)} Nothing was done. Restore it again: manage.py "
        f"migrationbackups restore {backup or 'BACKUP_ID'} --database {alias}"
    )


def check_covers_unfinished(
    alias: str, manifest: Manifest, store: BackupStore | None = None
) -> dict[str, Any] | None:
    """Refuse (exit 7) to restore ``manifest`` over an unfinished restore it
    does not cover; the marker (None: there is none).

    The tables the unfinished restore of backup X was writing are half-loaded.
    A restore of ``manifest`` replaces the marker, so it must write at least
    those: it is X, or a full backup, or a plan-scoped one whose scope holds
    X's. A narrower scoped restore would clear the marker and leave the rest
    as the killed load left it, in a database that looks whole. Exit 7, as
    every refusal of a half-restored database: the backup is not at fault
    (exit 4 says that), the database is, and the way out is the same
    ``migrationbackups restore X``. A marker naming a backup the store no
    longer has (or none) counts as a full restore: what it wrote is unknown.
    """
    marker = unfinished_restore(alias)
    if marker is None or not manifest.scope or marker["backup_id"] == manifest.id:
        return marker
    from migration_guard.backup.scoped import describe_scope
    from migration_guard.backup.storage import get_store

    store = store or get_store()
    unfinished = store.get(marker["backup_id"]) if marker["backup_id"] else None
    missing = sorted(set(unfinished.scope) - set(manifest.scope)) if unfinished else []
    if unfinished is not None and unfinished.scope and not missing:
        return marker
    if unfinished is None:
        what = (
            f"backup {marker['backup_id'] or '(unknown)'} is not in "
            f"{store.description}, so what its restore was writing is unknown"
        )
        fix = (
            "Restore a full backup of this database first (manage.py "
            "migrationbackups list shows them)"
        )
    else:
        what = f"the restore of {unfinished.id} was " + (
            f"also writing {describe_scope(missing)}"
            if unfinished.scope
            else "writing the whole database"
        )
        fix = (
            f"Restore {unfinished.id} again first: manage.py migrationbackups "
            f"restore {unfinished.id} --database {alias} (or restore "
            + ("another" if not unfinished.scope else "a")
            + " full backup of this database)"
        )
    raise RecoveryRequired(
        f"{_unfinished(alias, marker)} Backup {manifest.id} holds only the plan's "
        f"{describe_scope(manifest.scope)}, and {what}: restoring it would leave "
        "the rest as that restore left it, and clear the marker of a database "
        f"that is still half-loaded. Nothing was done. {fix}; then {manifest.id}, "
        "if it is still wanted."
    )


def marks_restores(alias: str, manifest: Manifest | None = None) -> bool:
    """Whether a restore of ``alias`` (of ``manifest``) needs the marker.

    A MySQL load is not atomic. A PostgreSQL restore is two transactions:
    the objects the backup does not know are dropped first (committed), then
    ``pg_restore --single-transaction`` loads the archive; killed between or
    during them, the database has lost those objects but not got the backup
    back (the fault suite found it: the tables a deploy created were gone
    while ``django_migrations`` still listed their migrations). A SQLite
    restore goes through the backup API, which holds the destination's write
    lock until the end: a killed restore leaves the database as it was. So
    does a plan-scoped PostgreSQL restore: its drops, load and foreign keys
    are one psql transaction (backup.pg_scoped).
    """
    vendor = connections[alias].vendor
    if vendor == "postgresql" and manifest is not None and manifest.scope:
        return False
    return vendor in ("mysql", "postgresql")


def restore_marked(alias: str, manifest: Manifest, **options: Any) -> None:
    """Restore ``manifest`` into ``alias`` under the restore marker where the
    vendor needs it (:func:`marks_restores`).

    The marker of an unfinished restore is replaced only by a restore that
    covers it (:func:`check_covers_unfinished`), and a plan-scoped backup's
    checks come first: a refusal leaves neither a changed database nor a
    changed marker. A failed restore leaves the marker: runs refuse the
    database until it is restored again. A restore that needs no marker of
    its own (atomic) clears the one it covered once it is done.
    ``options`` go to :func:`~migration_guard.backup.catalog.restore_backup`.
    """
    from migration_guard.backup.catalog import check_scope, restore_backup

    earlier = check_covers_unfinished(alias, manifest, options.get("store"))
    check_scope(alias, manifest)
    marked = marks_restores(alias, manifest)
    if marked:
        set_marker(alias, manifest.id)
    restore_backup(alias, manifest, scope_checked=True, **options)
    if marked or earlier is not None:
        clear_marker(alias)


def set_marker(alias: str, backup_id: str) -> None:
    """Create the marker of a restore in progress (committed at once).

    One statement, so that a marker never exists without the backup it names
    (MySQL commits a ``CREATE TABLE`` by itself: a kill between a create and
    an insert left an empty marker).
    """
    connection = connections[alias]
    table = connection.ops.quote_name(MARKER_TABLE)
    clear_marker(alias)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} AS SELECT %s AS backup_id, %s AS started_at",
            [backup_id, f"{timezone.now():%Y-%m-%d %H:%M:%S} UTC"],
        )
    if not connection.get_autocommit():  # pragma: no cover - commands autocommit
        connection.commit()


def clear_marker(alias: str) -> None:
    """Drop the marker: the restore finished.

    The connection may be one the load left unusable (MySQL closes idle
    sessions during a long load; a restore closes Django's connection around
    its steps): on an error the statement is tried once more on a new
    connection, and a second error is raised, never swallowed, since a
    marker left behind makes every later run refuse the database.
    """
    connection = connections[alias]
    statement = f"DROP TABLE IF EXISTS {connection.ops.quote_name(MARKER_TABLE)}"
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    except DatabaseError:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(statement)
    if not connection.get_autocommit():  # pragma: no cover - commands autocommit
        connection.commit()


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
    refuse_unfinished_restore(alias, tables)
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


# -- a run on several databases, killed: recovered as one ------------------------


def in_group(run: MigrationRun) -> bool:
    """Whether ``run`` is an unresolved killed run on several databases.

    Not one a signal ended: its run restored the group (:mod:`run.multi`).
    """
    runtime = run.runtime or {}
    return bool(
        run.outcome == Outcome.INTERRUPTED
        and runtime.get("killed")
        and runtime.get("group")
        and not runtime.get("resolved")
    )


@dataclass
class Member:
    """One database of an interrupted run on several databases (:mod:`run.multi`)."""

    alias: str
    run: MigrationRun
    #: how many steps of the run's plan the database holds done
    done: int

    @property
    def half(self) -> bool:
        """Its migration in progress was left half-done (no rollback)."""
        return bool((self.run.runtime or {}).get("needs_restore"))

    @property
    def changed(self) -> bool:
        return self.done > 0 or self.half

    @property
    def complete(self) -> bool:
        return self.done == len(self.run.plan or []) and not self.half

    def line(self) -> str:
        run, total = self.run, len(self.run.plan or [])
        if self.complete:
            what = f"completed its {total} migration(s)"
        elif self.half:
            step = (run.runtime or {}).get("in_progress") or "a migration"
            what = f"interrupted, half-migrated ({step} was cut short)"
        else:
            what = f"interrupted after {self.done} of its {total} migration(s)"
        backup = (
            f"pre-run backup {run.backup_id}"
            if run.backup_id
            else f"no pre-run backup ({run.backup_note or 'none was taken'})"
        )
        return f"Database '{self.alias}' (run {run.pk}): {what}; {backup}."


def _steps_done(alias: str, run: MigrationRun) -> int:
    applied = {
        f"{app}.{name}"
        for app, name in MigrationRecorder(connections[alias]).applied_migrations()
    }
    return sum(
        (_label(step) in applied) != bool(step.get("backwards"))
        for step in run.plan or []
    )


def group_members(alias: str, run: MigrationRun, say: Say) -> list[Member]:
    """Every database of ``run``'s group, with what the run left in it.

    Raises RecoveryRequired when one of them is not configured here, cannot
    be reached, or its ledger lost the run: what it holds is unknown, so no
    database of the group may be restored without it.
    """
    runtime = run.runtime or {}
    databases: list[str] = list(runtime.get("databases") or [alias])
    head = (
        f"Run {run.pk} on database '{alias}' was one run on databases "
        f"{', '.join(databases)}, but"
    )
    tail = (
        "its state is unknown, so no database of the run was restored. "
        "Nothing was done. Configure every database of the run in "
        "settings.DATABASES, then run again."
    )
    missing = [each for each in databases if each not in connections.settings]
    if missing:
        names = ", ".join(f"'{each}'" for each in missing)
        raise RecoveryRequired(
            f"{head} database {names} is not in settings.DATABASES: {tail}"
        )
    members = []
    for each in databases:
        try:
            found = (
                run
                if each == alias
                else MigrationRun.objects.using(each)
                .filter(runtime__group=runtime["group"])
                .first()
            )
            if found is not None and found.outcome == Outcome.RUNNING:
                find_dead_runs(each, say, [found])
            done = _steps_done(each, found) if found is not None else 0
        except DatabaseError as exc:
            raise RecoveryRequired(
                f"{head} database '{each}' cannot be read ({exc}): {tail}"
            ) from exc
        if found is None or found.outcome == Outcome.RUNNING:
            why = "has no run of it" if found is None else "still records it running"
            raise RecoveryRequired(
                f"{head} the ledger of database '{each}' {why}: {tail}"
            )
        members.append(Member(each, found, done))
    return members


def recover_group(
    alias: str, run: MigrationRun, say: Say, held: Collection[str]
) -> bool:
    """Recover interrupted ``run`` and the other runs of its group as one;
    whether databases were restored.

    A group whose databases all hold the whole deploy, or none of it, is
    consistent: its runs are resolved and the run goes on. Otherwise every
    database the group changed is restored from its pre-run backup when
    ``AUTO_RESTORE`` is ``always`` and this process holds every database's
    lock (taken in ``settings.DATABASES`` order by the caller), else the
    run stops (exit 7) naming ``rollback --run``, which does it.
    """
    members = group_members(alias, run, say)
    if not any(m.changed for m in members) or all(m.complete for m in members):
        for member in members:
            if in_group(member.run):
                resolve(
                    member.run, "the run's databases were left consistent", member.alias
                )
        return False
    aliases = [m.alias for m in members]
    report = (
        f"Run {run.pk} on database '{alias}' was one run on databases "
        f"{', '.join(aliases)}, and its process was killed: the databases hold "
        "different parts of that deploy.\n  " + "\n  ".join(m.line() for m in members)
    )
    command = f"manage.py rollback --run {run.pk} --database {alias}"
    unlocked = [each for each in aliases if each not in {alias, *held}]
    if conf.AUTO_RESTORE == "always" and not unlocked:
        say("WARNING", report)
        restore_group(members, say=say, command="guardedmigrate")
        return True
    why = (
        f" AUTO_RESTORE is 'always', but this run does not hold the lock of "
        f"database(s) {', '.join(unlocked)}: run it on every database of the run."
        if conf.AUTO_RESTORE == "always"
        else ""
    )
    raise RecoveryRequired(
        f"{report}\nNothing was done.{why} Bring every database of the run back "
        f"to its state before it with: {command} (or set "
        "MIGRATION_GUARD['AUTO_RESTORE'] = 'always' and run guardedmigrate on all "
        "of them)."
    )


def restore_group(
    members: list[Member],
    *,
    say: Say,
    command: str,
    lock_timeout: float | None = None,
    argv: list[str] | None = None,
    progress: Callable[[str], Progress | None] = lambda label: None,
) -> list[str]:
    """Restore every member the group changed (the last database first);
    resolve every member's run. The caller holds every member's lock.

    Every backup is found and checked before any restore: a member that
    cannot be brought back stops it before anything is changed.
    """
    from migration_guard.backup import guarded
    from migration_guard.backup.catalog import find
    from migration_guard.backup.storage import get_store

    store = get_store()
    changed = [m for m in members if m.changed]
    for member in changed:
        if not member.run.backup_id:
            raise RecoveryRequired(
                f"{member.line()} It cannot be brought back by a restore: nothing "
                "was done. Undo the run on each database by hand, then record it "
                f"with: manage.py rollback --run {member.run.pk} --mark-resolved "
                f"--database {member.alias}"
            )
    manifests = {m.alias: find(m.run.backup_id, store) for m in changed}
    for member in changed:
        guarded.check(manifests[member.alias], member.alias, store)
    lines: list[str] = []
    for member in reversed(changed):
        manifest = manifests[member.alias]
        say(
            "MIGRATE_HEADING",
            f"Restoring database '{member.alias}' from the pre-run backup "
            f"{manifest.id} of run {member.run.pk}:",
        )
        try:
            done = guarded.restore(
                member.alias,
                manifest,
                store=store,
                lock_timeout=float(
                    conf.LOCK_TIMEOUT if lock_timeout is None else lock_timeout
                ),
                command=command,
                argv=argv if argv is not None else list(sys.argv),
                say=say,
                progress=progress,
                locked=True,
            )
        except (BackupError, MigrationGuardError) as exc:
            raise RestoreFailed(
                f"Restoring database '{member.alias}' from {manifest.id} failed: "
                f"{exc} Restored before it: {', '.join(lines) or 'none'}. Restore "
                f"it with: manage.py migrationbackups restore {manifest.id} "
                f"--database {member.alias}"
            ) from exc
        resolve(
            member.run,
            f"restored from {manifest.id} by run {done.run.pk}",
            member.alias,
        )
        lines.append(f"database '{member.alias}' from {manifest.id}")
    for member in members:
        if not member.changed and in_group(member.run):
            resolve(member.run, "not changed by the run", member.alias)
    return lines
